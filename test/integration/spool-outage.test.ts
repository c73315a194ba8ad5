import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { influxdPerFile } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// InfluxDB stopped for 60 s (real time: this is the one long test) while 20,000 readings
// flow into the durable spool; after the restart every reading is stored exactly once,
// and the heap stayed flat during the outage (the data waited on disk).

const OUTAGE_MS = 60_000;
const N = 20_000;
const CHUNKS = 40;

const fx = influxdPerFile();

describe('durable spool: an InfluxDB outage', () => {
  it(`${N} readings during a ${OUTAGE_MS / 1000} s outage are all stored, none twice, with a flat heap`, async () => {
    await fx.influx.createDatabase('outage');
    const { daemon, log } = await startDaemon(
      `
broker: { port: 0 }
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
    json: { integers: [seq] }
outputs:
  - id: local
    type: influxdb_v1
    url: ${fx.influx.url}
    database: outage
    batch: { max_points: 5000, max_age: 200ms }
    retry: { initial: 200ms, max: 2s }
spool: { dir: ${join(fx.dir.path, 'spool')} }
service: { internal_metrics: { enabled: false } } # exact counts below: no edgeflux_internal points in the journal
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
`,
      fx.dir.path,
    );
    let client: MqttClient | undefined;
    try {
      client = await publisher(daemon.brokerPort!);
      await publishAll(client, [{ topic: 'sensors/a/warmup/climate', payload: '{"seq":0}' }]);
      await waitFor(async () => (await fx.influx.count('outage', 'climate')) === 1, 10_000, 'the warm-up point');

      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      let heapMax = heap0;
      let rssMax = process.memoryUsage().rss;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        heapMax = Math.max(heapMax, m.heapUsed);
        rssMax = Math.max(rssMax, m.rss);
      }, 250);

      await fx.influx.pause();
      const outageStart = Date.now();
      // Readings flow through the whole outage: a chunk every 1.5 s, each acknowledged
      // (PUBACK) only once journaled.
      for (let c = 0; c < CHUNKS; c++) {
        const msgs = [];
        for (let i = 0; i < N / CHUNKS; i++) {
          const seq = c * (N / CHUNKS) + i;
          msgs.push({ topic: `sensors/room${seq % 5}/dev${seq % 50}/climate`, payload: JSON.stringify({ temperature: 20 + (seq % 100) / 10, seq }) });
        }
        await publishAll(client, msgs, 1);
        const wait = outageStart + ((c + 1) * OUTAGE_MS) / CHUNKS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const status = daemon.spoolStatus()!;
      expect(status.outputs[0]).toMatchObject({ id: 'local', state: 'down' });
      // At least N: CI once saw N + 1 (cause not pinned down; a QoS 1 publish resent after a
      // reconnect under load would be journaled twice). What is stored is checked exactly below.
      expect(status.outputs[0]!.behind).toBeGreaterThanOrEqual(N);
      expect(status.outputs[0]!.behind).toBeLessThanOrEqual(N + 100);
      expect(status.journal.headSeq - status.journal.oldestSeq).toBeGreaterThanOrEqual(N);
      clearInterval(sampler);

      const resumed = Date.now();
      await fx.influx.resume();
      await waitFor(async () => (await fx.influx.count('outage', 'climate')) >= N + 1, 60_000, 'every reading after the outage', 250);
      const drainMs = Date.now() - resumed;
      await waitFor(() => daemon.spoolStatus()!.outputs[0]!.behind === 0, 10_000, 'the cursor at the head');

      const growthMb = (heapMax - heap0) / 2 ** 20;
      process.stderr.write(
        `spool outage: ${N} readings over ${Math.round((resumed - outageStart) / 1000)} s of outage; heap +${growthMb.toFixed(1)} MB (max ${(heapMax / 2 ** 20).toFixed(0)} MB), rss max ${(rssMax / 2 ** 20).toFixed(0)} MB; stored ${drainMs} ms after influxd came back (${Math.round(N / (drainMs / 1000))} readings/s including its start)\n`,
      );
      expect(await fx.influx.count('outage', 'climate')).toBe(N + 1);
      const sums = await fx.influx.query('SELECT COUNT(seq), SUM(seq) FROM climate', 'outage');
      expect(sums.results[0].series[0].values[0].slice(1)).toEqual([N + 1, (N * (N - 1)) / 2]);
      expect(growthMb).toBeLessThan(50);
      expect(daemon.counters.total('points_dropped') + daemon.counters.total('messages_dropped')).toBe(0);
      expect(log.text()).toMatch(/write failed, retrying/);
      expect(log.text()).toMatch(/writing again/);
    } finally {
      await client?.endAsync();
      expect(await daemon.stop()).toBe(true);
    }
  }, 180_000);
});
