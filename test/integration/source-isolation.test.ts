import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import { FlakySource } from '../helpers/flaky-source.js';

// One source's stream fails inside a running daemon: the embedded broker keeps
// acknowledging and its readings reach a real influxd; the failed source is shown in
// /healthz and restarted.

const fx = influxdPerFile();

const get = async (url: string) => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json()) as { reasons: { check: string; source?: string }[]; sources?: { id: string; state: string }[] } };
};

describe('a failing source does not silence the others', () => {
  it('the broker keeps acking and writing while a failed source waits for its restart, and the restarted source delivers again', async () => {
    await fx.influx.createDatabase('iso');
    const flaky = new FlakySource('flaky');
    const { daemon, log } = await startDaemon(
      `
broker: { port: 0 }
rules:
  - topic: "sensors/{device}/{measurement}"
    format: json
outputs:
  - id: local
    type: influxdb_v1
    url: ${fx.influx.url}
    database: iso
    batch: { max_points: 100, max_age: 100ms }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
`,
      fx.dir.path,
      { extraSources: [flaky] },
    );
    try {
      flaky.fail(new Error('decoder bug in a source'));
      const client = await publisher(daemon.brokerPort!);
      await publishAll(
        client,
        Array.from({ length: 50 }, (_, i) => ({ topic: 'sensors/d1/climate', payload: JSON.stringify({ t: i }) })),
        1,
      );
      await waitFor(async () => (await fx.influx.count('iso', 'climate')) === 50, 10_000, '50 broker points in influxd');

      const health = await get(`${daemon.healthUrl!}/healthz`);
      expect(health.status).toBe(503);
      expect(health.body.reasons).toContainEqual(expect.objectContaining({ check: 'source_failed', source: 'flaky' }));
      expect(daemon.counters.get('source_failures', { source: 'flaky' })).toBe(1);
      expect(log.text()).toContain('source flaky failed (decoder bug in a source)');

      await waitFor(async () => flaky.starts === 2, 5000, 'the failed source restarted');
      expect((await get(`${daemon.healthUrl!}/healthz`)).body.sources).toContainEqual(expect.objectContaining({ id: 'flaky', state: 'up' }));
      flaky.emit('sensors/d2/climate', '{"t":1}');
      await waitFor(async () => (await fx.influx.count('iso', 'climate')) === 51, 10_000, 'the restarted source delivers');
      await publishAll(client, [{ topic: 'sensors/d1/climate', payload: '{"t":99}' }], 1);
      await client.endAsync();
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  });
});
