import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// `ignore:` on a running daemon: Tasmota and Home Assistant chatter counted and nothing else,
// while a real reading is written and a real mistake is still dead-lettered and logged.

const fx = influxdPerFile();

describe('ignore: topics that carry no readings', () => {
  it('counts them as ignored: no dead letter, no warning, not written; other messages as before', async () => {
    await fx.influx.createDatabase('ign');
    const dead = join(fx.dir.path, 'dead.jsonl');
    const yaml = `
broker: { port: 0 }
ignore: ["tele/+/STATE", "tele/+/LWT", "homeassistant/#"]
rules:
  - { topic: "tele/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: ign, batch: { max_age: 50ms } }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${dead} }
`;
    const { daemon, log } = await startDaemon(yaml, fx.dir.path);
    const c = await publisher(daemon.brokerPort!);
    try {
      await publishAll(c, [
        { topic: 'tele/plug1/STATE', payload: '{"Time":"2026-12-06T03:00:00","POWER":"ON","Wifi":{"RSSI":70}}' },
        { topic: 'tele/plug1/LWT', payload: 'Online' },
        { topic: 'homeassistant/sensor/plug1_power/config', payload: '{"name":"power"}' },
        { topic: 'tele/plug1/SENSOR', payload: '{"power":12.5}' },
        { topic: 'stat/plug1/RESULT', payload: '{"POWER":"ON"}' }, // neither ignored nor a rule's
      ]);
      await waitFor(async () => (await fx.influx.count('ign', 'SENSOR')) === 1, 10_000, 'the reading written');
      await waitFor(() => daemon.counters.get('dead_letter_records', { reason: 'no_rule' }) === 1, 10_000, 'the stray message dead-lettered');
      expect(daemon.counters.get('messages_ignored', { source: 'broker' })).toBe(3);
      expect(daemon.counters.get('messages_received', { source: 'broker' })).toBe(5);
      expect(daemon.counters.total('messages_failed')).toBe(1);
      const onDisk = async () => (await readFile(dead, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      const records = await waitFor(async () => ((await onDisk()).length > 0 ? onDisk() : undefined), 10_000, 'the dead-letter record on disk');
      expect(records).toHaveLength(1);
      expect(records[0]).toContain('stat/plug1/RESULT');
      const warned = log.lines.filter((l) => (l.level as number) >= 40).map((l) => String(l.msg));
      expect(warned.filter((m) => /tele\/plug1\/(STATE|LWT)|homeassistant/.test(m))).toEqual([]);
      expect(warned.filter((m) => m.includes('stat/plug1/RESULT'))).toHaveLength(1);
      expect(await fx.influx.count('ign', 'STATE')).toBe(0);
    } finally {
      await c.endAsync();
      await daemon.stop();
    }
  });

  it("a profile's own ignore topics (tasmota: tele/<device>/STATE) are counted as ignored too", async () => {
    const yaml = `
broker: { port: 0 }
devices: [{ profile: tasmota }]
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: ign, batch: { max_age: 50ms } }
spool: { dir: ${join(fx.dir.path, 'spool2')} }
dead_letter: { path: ${join(fx.dir.path, 'dead2.jsonl')} }
`;
    const { daemon } = await startDaemon(yaml, fx.dir.path);
    const c = await publisher(daemon.brokerPort!);
    try {
      await publishAll(c, [
        { topic: 'tele/plug2/STATE', payload: '{"Time":"2026-12-06T03:00:00","POWER":"ON"}' },
        { topic: 'tele/plug2/INFO1', payload: '{"Module":"Sonoff Basic"}' },
        { topic: 'tele/plug2/SENSOR', payload: '{"Time":"2026-12-06T03:00:00","ENERGY":{"Power":7}}' },
      ]);
      await waitFor(() => daemon.counters.get('messages_decoded', { source: 'broker' }) === 1, 10_000, 'the SENSOR message decoded');
      expect(daemon.counters.get('messages_ignored', { source: 'broker' })).toBe(2);
      expect(daemon.counters.total('messages_failed')).toBe(0);
    } finally {
      await c.endAsync();
      await daemon.stop();
    }
  });
});
