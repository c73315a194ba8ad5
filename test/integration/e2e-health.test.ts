import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { duplicateKeys, publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import { parsePrometheus } from '../helpers/prometheus.js';

// The running daemon's /healthz and /metrics, against a real influxd that goes away.

const fx = influxdPerFile();

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

describe('health and metrics of a running daemon', () => {
  it('/metrics counts what was sent; /healthz is 503 naming the output while influxd is down, 200 when back', async () => {
    await fx.influx.createDatabase('health');
    const yaml = `
broker: { port: 0 }
rules:
  - { topic: "h/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: health, batch: { max_age: 50ms }, retry: { initial: 50ms, max: 200ms }, timeout: 1s }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
service:
  http: { port: 0 }
  health: { output_down_after: 300ms }
`;
    const { daemon } = await startDaemon(yaml, fx.dir.path);
    try {
      const base = daemon.healthUrl!;
      expect((await get(`${base}/healthz`)).status).toBe(200);

      const c = await publisher(daemon.brokerPort!);
      await publishAll(c, [
        ...Array.from({ length: 25 }, (_, i) => ({ topic: 'h/d1/env', payload: JSON.stringify({ t: i }) })),
        { topic: 'h/d1/env', payload: 'not json' },
      ]);
      await waitFor(async () => (await fx.influx.count('health', 'env')) >= 25, 10_000, 'points stored');
      const m = await get(`${base}/metrics`);
      expect(m.status).toBe(200);
      const metrics = parsePrometheus(m.body);
      expect(metrics.get('edgeflux_messages_received_total{source="broker"}')).toBe(26);
      expect(metrics.get('edgeflux_messages_decoded_total{source="broker"}')).toBe(25);
      expect(metrics.get('edgeflux_messages_failed_total{reason="invalid_json",source="broker"}')).toBe(1);

      await fx.influx.pause();
      await publishAll(c, [{ topic: 'h/d1/env', payload: '{"t":100}' }]);
      await waitFor(async () => (await get(`${base}/healthz`)).status === 503, 15_000, '/healthz 503');
      const down = JSON.parse((await get(`${base}/healthz`)).body) as { reasons: { check: string; output?: string }[] };
      expect(down.reasons).toContainEqual(expect.objectContaining({ check: 'output_unreachable', output: 'local' }));

      await fx.influx.resume();
      await waitFor(async () => (await get(`${base}/healthz`)).status === 200, 20_000, '/healthz 200 again');
      await waitFor(async () => (await fx.influx.count('health', 'env')) >= 26, 10_000, 'the spooled point written');
      await c.endAsync();
    } finally {
      await daemon.stop();
    }
  });

  it('/healthz counts output_down_after from the first failure, however rarely it is polled', async () => {
    await fx.influx.createDatabase('health2');
    const yaml = `
broker: { port: 0 }
rules:
  - { topic: "h/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: health2, batch: { max_age: 50ms }, retry: { initial: 100ms, max: 300ms }, timeout: 1s }
spool: { dir: ${join(fx.dir.path, 'spool2')} }
dead_letter: { path: ${join(fx.dir.path, 'dead2.jsonl')} }
service:
  http: { port: 0 }
  health: { output_down_after: 2s }
`;
    const { daemon, log } = await startDaemon(yaml, fx.dir.path);
    const c = await publisher(daemon.brokerPort!);
    try {
      const base = daemon.healthUrl!;
      await fx.influx.pause();
      const before = Date.now();
      await publishAll(c, [{ topic: 'h/d1/env', payload: '{"t":1}' }]);
      // Only /metrics until the outage is 3 s old: the daemon is never asked for its health meanwhile.
      const retries = async () =>
        [...parsePrometheus((await get(`${base}/metrics`)).body)].filter(([k]) => k.startsWith('edgeflux_write_retries_total')).reduce((a, [, v]) => a + v, 0);
      await waitFor(async () => (await retries()) >= 1 && Date.now() - before >= 3_000, 15_000, 'a 3 s outage', 200);
      const h = await get(`${base}/healthz`);
      expect(h.status).toBe(503);
      const reason = (JSON.parse(h.body) as { reasons: { check: string; output?: string; since?: string }[] }).reasons.find(
        (r) => r.check === 'output_unreachable',
      );
      expect(reason?.output).toBe('local');
      const since = Date.parse(reason!.since!);
      expect(since).toBeGreaterThanOrEqual(before);
      expect(Date.now() - since).toBeGreaterThanOrEqual(2_500); // the first failure, not the latest retry
      // Every log line names each thing once (the output's lines carried "output" twice).
      const retry = log.raw.find((l) => l.includes('write failed, retrying'));
      expect(retry).toBeDefined();
      expect(log.raw.flatMap(duplicateKeys)).toEqual([]);
    } finally {
      await c.endAsync();
      await fx.influx.resume();
      await daemon.stop();
    }
  });
});
