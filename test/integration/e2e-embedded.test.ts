import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { startFakeInfluxV2, type FakeInfluxV2 } from '../helpers/fake-influx-v2.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import { PAYLOAD_CODES } from '../../src/util/errors.js';
import type { DecodeReason } from '../../src/types.js';
import type { Daemon } from '../../src/daemon.js';

// End to end through the embedded broker (aedes in process) into a real influxd 1.6.7.

let influx: Influxd;
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  influx = await startInfluxd();
  dir = await tempDir();
});
afterAll(async () => {
  await influx?.stop();
  await dir?.cleanup();
});

function config(db: string, extra = ''): string {
  return `
broker: { port: 0 }
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
    json: { integers: [seq] }
outputs:
  - id: local
    type: influxdb_v1
    url: ${influx.url}
    database: ${db}
    batch: { max_points: 5000, max_age: 200ms }
spool: { dir: ${join(dir.path, db + '-spool')} }
dead_letter: { path: ${join(dir.path, db + '-dead.jsonl')} }
${extra}`;
}

async function withDaemon<T>(yaml: string, fn: (d: Daemon) => Promise<T>): Promise<T> {
  const { daemon } = await startDaemon(yaml, dir.path);
  try {
    return await fn(daemon);
  } finally {
    expect(await daemon.stop()).toBe(true);
  }
}

describe('embedded broker → influxd', () => {
  it('100,000 QoS 1 readings from 50 devices become exactly 100,000 points, values and tags right', async () => {
    await influx.createDatabase('bulk');
    const DEVICES = 50;
    const PER_DEVICE = 2000;
    await withDaemon(config('bulk'), async (daemon) => {
      const clients: MqttClient[] = [];
      for (let c = 0; c < 5; c++) clients.push(await publisher(daemon.brokerPort!));
      const t0 = Date.now();
      await Promise.all(
        clients.map((client, c) => {
          const msgs = [];
          for (let i = 0; i < PER_DEVICE; i++) {
            for (let d = c * 10; d < c * 10 + 10; d++) {
              msgs.push({ topic: `sensors/room${d % 7}/dev${d}/climate`, payload: JSON.stringify({ temperature: 20 + (i % 100) / 10, seq: i }) });
            }
          }
          return publishAll(client, msgs, 1);
        }),
      );
      const acked = Date.now() - t0;
      await waitFor(async () => (await influx.count('bulk', 'climate')) >= DEVICES * PER_DEVICE, 30_000, 'all points in influxd', 200);
      process.stderr.write(`e2e embedded: 100,000 QoS1 readings acked in ${acked} ms, stored in ${Date.now() - t0} ms\n`);
      await Promise.all(clients.map((c) => c.endAsync()));

      expect(await influx.count('bulk', 'climate')).toBe(DEVICES * PER_DEVICE);
      const res = await influx.query('SELECT COUNT(seq), SUM(seq), MAX(temperature) FROM climate GROUP BY device, location', 'bulk');
      const series = res.results[0].series as { tags: { device: string; location: string }; values: [string, number, number, number][] }[];
      expect(series).toHaveLength(DEVICES);
      for (const s of series) {
        const d = Number(s.tags.device.slice(3));
        expect(s.tags.location).toBe(`room${d % 7}`);
        expect(s.values[0]!.slice(1)).toEqual([PER_DEVICE, (PER_DEVICE * (PER_DEVICE - 1)) / 2, 29.9]);
      }
      // seq was declared integer, temperature is float: InfluxDB keeps each field's type.
      const types = await influx.query('SHOW FIELD KEYS FROM climate', 'bulk');
      expect(types.results[0].series[0].values).toEqual([
        ['seq', 'integer'],
        ['temperature', 'float'],
      ]);
      expect(daemon.counters.total('messages_failed')).toBe(0);
    });
  });

  it('the README example: a reading published with mosquitto semantics lands as the documented point', async () => {
    await influx.createDatabase('example');
    await withDaemon(config('example'), async (daemon) => {
      const c = await publisher(daemon.brokerPort!);
      await publishAll(c, [{ topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":21.5,"humidity":40}' }]);
      await c.endAsync();
      const csv = await waitFor(
        async () => {
          const t = await influx.queryCsv('SELECT * FROM climate', 'example');
          return t.includes('kitchen') ? t : undefined;
        },
        5000,
        'the point',
      );
      const [header, row] = csv.trim().split('\n');
      const cols = header!.split(',');
      const vals = row!.split(',');
      const point = Object.fromEntries(cols.map((k, i) => [k, vals[i]]));
      expect(point).toMatchObject({ name: 'climate', device: 'th1', location: 'kitchen', temperature: '21.5', humidity: '40' });
    });
  });

  it('a malformed payload storm mixed with good traffic: every good reading stored, every bad one counted and dead-lettered', async () => {
    await influx.createDatabase('storm');
    const bad: { topic: string; payload: string | Buffer; reason: string }[] = [
      { topic: 'sensors/a/d1/climate', payload: '{"temperature":', reason: 'invalid_json' },
      { topic: 'sensors/a/d1/climate', payload: '', reason: 'empty_payload' },
      { topic: 'sensors/a/d1/climate', payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), reason: 'invalid_utf8' },
      { topic: 'sensors/a/d1/climate', payload: '[1,2,3]', reason: 'not_an_object' },
      { topic: 'sensors/a/d1/climate', payload: '{"seq":1.5}', reason: 'wrong_type' },
      { topic: 'sensors/a/d1/climate', payload: 'x'.repeat(300 * 1024), reason: 'payload_too_large' },
      { topic: 'nowhere/else', payload: '{"temperature":1}', reason: 'no_rule' },
      { topic: 'sensors/a/d1/climate', payload: '{}', reason: 'no_fields' },
    ];
    const ROUNDS = 100;
    await withDaemon(config('storm'), async (daemon) => {
      const c = await publisher(daemon.brokerPort!);
      const msgs: { topic: string; payload: string | Buffer }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        msgs.push({ topic: `sensors/a/d${i % 5}/climate`, payload: JSON.stringify({ temperature: i, seq: i }) });
        for (const b of bad) msgs.push(b);
      }
      await publishAll(c, msgs, 1);
      await c.endAsync();
      await waitFor(async () => (await influx.count('storm', 'climate')) >= ROUNDS, 10_000, 'good points', 100);
      expect(await influx.count('storm', 'climate')).toBe(ROUNDS);
      for (const b of bad) expect(daemon.counters.get('messages_failed', { source: 'broker', reason: b.reason }), b.reason).toBe(ROUNDS);
      expect(daemon.counters.get('messages_received', { source: 'broker' })).toBe(ROUNDS * (bad.length + 1));
    });
    // Stopped: the dead-letter file is flushed and holds one record per bad message, with its reason and code.
    const records = (await readFile(join(dir.path, 'storm-dead.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: DecodeReason; topic: string; code?: string });
    for (const r of records) expect(r.code, r.reason).toBe(PAYLOAD_CODES[r.reason]);
    expect(records).toHaveLength(ROUNDS * bad.length);
    const byReason = new Map<string, number>();
    for (const r of records) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    expect(Object.fromEntries(byReason)).toEqual(Object.fromEntries(bad.map((b) => [b.reason, ROUNDS])));
  });
});

describe('embedded broker → InfluxDB 2.x API (protocol-faithful fake)', () => {
  let fake: FakeInfluxV2;
  beforeAll(async () => {
    fake = await startFakeInfluxV2({ token: 's3cret-token', org: 'home', buckets: ['sensors'] });
  });
  afterAll(async () => fake?.close());

  it('writes gzip line protocol to /api/v2/write with the token, retrying through a 503', async () => {
    fake.answerNext(1, { status: 503, headers: { 'retry-after': '0' }, body: { code: 'unavailable', message: 'busy' } });
    const yaml = `
broker: { port: 0 }
rules:
  - { topic: "sensors/{location}/{device}/{measurement}", format: json }
outputs:
  - id: cloud
    type: influxdb_v2
    url: ${fake.url}
    org: home
    bucket: sensors
    token: \${TOKEN:-s3cret-token}
    gzip: true
    batch: { max_age: 50ms }
    retry: { initial: 10ms, max: 50ms }
spool: { dir: ${join(dir.path, 'v2-spool')} }
dead_letter: { path: ${join(dir.path, 'v2-dead.jsonl')} }
`;
    const { daemon, log } = await startDaemon(yaml, dir.path);
    const c = await publisher(daemon.brokerPort!);
    await publishAll(
      c,
      Array.from({ length: 10 }, (_, i) => ({ topic: 'sensors/hall/m1/air', payload: JSON.stringify({ co2: 400 + i }) })),
    );
    await c.endAsync();
    await waitFor(() => fake.lines.length >= 10, 10_000, 'lines at the fake');
    expect(await daemon.stop()).toBe(true);

    const ok = fake.requests.filter((r) => r.status === 204);
    expect(fake.requests[0]!.status).toBe(503);
    for (const r of fake.requests) {
      expect(r.path).toBe('/api/v2/write');
      expect(r.query).toMatchObject({ org: 'home', bucket: 'sensors', precision: 'ns' });
      expect(r.headers.authorization).toBe('Token s3cret-token');
      expect(r.gzip).toBe(true);
    }
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(fake.lines.map((l) => l.replace(/ \d+$/, ''))).toEqual(Array.from({ length: 10 }, (_, i) => `air,device=m1,location=hall co2=${400 + i}`));
    expect(log.text()).not.toContain('s3cret-token');
  });
});
