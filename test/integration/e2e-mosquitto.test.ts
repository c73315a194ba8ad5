import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// End to end through a real mosquitto (external broker source) into a real influxd 1.6.7.

let influx: Influxd;
let broker: Mosquitto;
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  [influx, broker, dir] = await Promise.all([startInfluxd(), startMosquitto(), tempDir()]);
});
afterAll(async () => {
  await Promise.all([influx?.stop(), broker?.stop()]);
  await dir?.cleanup();
});

function config(db: string, id: string, subscription: string, protocol: 4 | 5 = 5): string {
  return `
mqtt:
  - id: ${id}
    url: ${broker.url}
    protocol_version: ${protocol}
    client_id: edgeflux-test-${id}-${db}
    subscriptions: [{ topic: "${subscription}", qos: 1 }]
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: us, integers: [seq] }
outputs:
  - id: local
    type: influxdb_v1
    url: ${influx.url}
    database: ${db}
    batch: { max_age: 200ms }
spool: { dir: ${join(dir.path, `${db}-${id}-spool`)} }
dead_letter: { path: ${join(dir.path, `${db}-${id}-dead.jsonl`)} }
`;
}

/** N readings per device over `devices` devices, each with its own event time (µs). */
function readings(devices: number, perDevice: number): { topic: string; payload: string }[] {
  const base = 1_700_000_000_000_000; // µs
  const msgs = [];
  for (let i = 0; i < perDevice; i++) {
    for (let d = 0; d < devices; d++) {
      msgs.push({ topic: `sensors/site/dev${d}/power`, payload: JSON.stringify({ ts: base + i, watts: d + i / 1000, seq: i }) });
    }
  }
  return msgs;
}

async function publishSpread(msgs: { topic: string; payload: string }[], clients: MqttClient[]): Promise<void> {
  await Promise.all(
    clients.map((c, k) =>
      publishAll(
        c,
        msgs.filter((_, i) => i % clients.length === k),
        1,
      ),
    ),
  );
}

describe('mosquitto → influxd', () => {
  it('100,000 QoS 1 readings from 50 devices through an external broker: exactly 100,000 points', async () => {
    await influx.createDatabase('ext');
    const { daemon } = await startDaemon(config('ext', 'site', 'sensors/#'), dir.path);
    try {
      const clients = await Promise.all(Array.from({ length: 4 }, () => publisher(broker.port)));
      const t0 = Date.now();
      await publishSpread(readings(50, 2000), clients);
      await waitFor(async () => (await influx.count('ext', 'power')) >= 100_000, 40_000, 'all points', 250);
      process.stderr.write(`e2e mosquitto: 100,000 QoS1 readings stored in ${Date.now() - t0} ms\n`);
      await Promise.all(clients.map((c) => c.endAsync()));
      expect(await influx.count('ext', 'power')).toBe(100_000);
      const res = await influx.query('SELECT COUNT(seq), SUM(seq) FROM power GROUP BY device', 'ext');
      const series = res.results[0].series as { values: [string, number, number][] }[];
      expect(series).toHaveLength(50);
      for (const s of series) expect(s.values[0]!.slice(1)).toEqual([2000, (2000 * 1999) / 2]);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  });

  it('two instances sharing a $share subscription store every reading exactly once', async () => {
    await influx.createDatabase('shared');
    const a = await startDaemon(config('shared', 'a', '$share/edgeflux/sensors/#'), dir.path);
    const b = await startDaemon(config('shared', 'b', '$share/edgeflux/sensors/#'), dir.path);
    try {
      const clients = await Promise.all(Array.from({ length: 2 }, () => publisher(broker.port)));
      const N = 20 * 500;
      await publishSpread(readings(20, 500), clients);
      await Promise.all(clients.map((c) => c.endAsync()));
      await waitFor(async () => (await influx.count('shared', 'power')) >= N, 20_000, 'all shared points', 200);
      const got = [a, b].map((x) => x.daemon.counters.get('messages_received', { source: x === a ? 'a' : 'b' }));
      // Each instance took part, and together they received every message once: no
      // message went to both (each reading has its own event time, so a duplicate
      // would be invisible in InfluxDB; the counters show it).
      expect(got[0]).toBeGreaterThan(0);
      expect(got[1]).toBeGreaterThan(0);
      expect(got[0]! + got[1]!).toBe(N);
      expect(await influx.count('shared', 'power')).toBe(N);
    } finally {
      expect(await a.daemon.stop()).toBe(true);
      expect(await b.daemon.stop()).toBe(true);
    }
  });
});
