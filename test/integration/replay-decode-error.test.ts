import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, publisher, publishAll } from '../helpers/daemon.js';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';

// Messages journaled under one config and replayed under another that no longer decodes
// some of them: the drain reads them back from the journal's segment files and hands the
// failures to the dead-letter file, whole (source, topic, payload), while the rest is written.

const fx = influxdPerFile();

const config = (url: string, integers: string) => `
broker: { port: 0 }
rules:
  - topic: "replay/{device}/{measurement}"
    format: json
    json: { integers: [${integers}] }
outputs:
  - { id: local, type: influxdb_v1, url: "${url}", database: replay, batch: { max_age: 100ms }, retry: { initial: 100ms, max: 200ms } }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
`;

describe('replay after a config change', () => {
  it('a journaled message the new config cannot decode is dead-lettered with its source, topic and payload; the others are written', async () => {
    await fx.influx.createDatabase('replay');
    // 1. InfluxDB unreachable: everything accepted stays in the journal.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const first = await startDaemon(config(nowhere, 'n'), fx.dir.path);
    try {
      const c = await publisher(first.daemon.brokerPort!);
      await publishAll(c, [
        { topic: 'replay/d1/climate', payload: '{"n":1,"v":1}' },
        { topic: 'replay/d1/climate', payload: '{"n":2,"v":1.5}' },
        { topic: 'replay/d1/climate', payload: '{"n":3,"v":2}' },
      ]);
      await c.endAsync();
    } finally {
      expect(await first.daemon.stop()).toBe(true); // durable: the unwritten readings stay in the journal
    }
    // 2. Now `v` must be an integer, and InfluxDB is up: 1.5 no longer decodes.
    const second = await startDaemon(config(fx.influx.url, 'n, v'), fx.dir.path);
    try {
      await waitFor(async () => (await fx.influx.count('replay', 'climate')) >= 2, 15_000, 'two points', 100);
      expect(second.daemon.counters.get('messages_failed', { source: 'broker', reason: 'wrong_type' })).toBe(1);
    } finally {
      expect(await second.daemon.stop()).toBe(true);
    }
    expect(await fx.influx.count('replay', 'climate')).toBe(2);
    const records = (await readFile(join(fx.dir.path, 'dead.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ reason: 'wrong_type', source_id: 'broker', topic: 'replay/d1/climate', payload: '{"n":2,"v":1.5}' });
  });
});
