import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// Device pipelines end to end: embedded broker → journal → a user profile's deadband (one
// devices[] entry), an entry's own dedupe instead (another), then the global pipeline →
// a real influxd 1.6.7. A rule matching the same topics has a window that must not apply:
// profiles decode these messages, so their steps are the profile's or the entry's.

let influx: Influxd;
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  influx = await startInfluxd();
  dir = await tempDir();
  await mkdir(join(dir.path, 'profiles'));
  await writeFile(
    join(dir.path, 'profiles', 'thermo.yaml'),
    `name: thermo
description: my thermometers
vars: { base: home }
mqtt:
  topics: ["%base%/{device}/th"]
decode:
  decoder: json
  params: { time_key: ts, time_unit: ms }
measurement: climate
fields:
  - { name: temperature }
pipeline:
  - deadband: { field: temperature, abs: 0.5 }
`,
  );
});
afterAll(async () => {
  await influx?.stop();
  await dir?.cleanup();
});

const DB = 'devices';
/** Event times: whole seconds, ten minutes ago. */
const BASE = Math.floor(Date.now() / 1000) * 1000 - 600_000;

const HOME = [20, 20.2, 20.6, 20.7, 21.5]; // profile deadband 0.5 → 20, 20.6, 21.5
const GARDEN = [10, 10, 10.2, 10.2, 10.3]; // the entry's dedupe → 10, 10.2, 10.3

function config(): string {
  return `
broker: { port: 0 }
device_profiles: { dirs: [profiles] }
devices:
  - profile: thermo
  - profile: thermo
    vars: { base: garden }
    pipeline: [{ dedupe: {} }]
rules:
  - topic: "{site}/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms }
    pipeline:
      - window: { every: 1m }
pipeline:
  - series_limit: { max_series: 2 }
outputs:
  - id: local
    type: influxdb_v1
    url: ${influx.url}
    database: ${DB}
    batch: { max_points: 5000, max_age: 100ms }
spool: { dir: ${join(dir.path, 'spool')} }
dead_letter: { path: ${join(dir.path, 'dead.jsonl')} }
`;
}

async function points(): Promise<Record<string, number[]>> {
  const res = await influx.query('SELECT * FROM climate GROUP BY device', DB);
  const out: Record<string, number[]> = {};
  for (const s of (res.results[0].series ?? []) as { tags: { device: string }; columns: string[]; values: unknown[][] }[]) {
    expect(s.columns).toEqual(['time', 'temperature']); // no temperature_mean: the rule's window did not apply
    out[s.tags.device] = s.values.map((v) => v[1] as number);
  }
  return out;
}

describe('device pipelines end to end (embedded broker → influxd)', () => {
  it("a profile's steps, an entry's own instead, then the global ones; not the rule's", async () => {
    await influx.createDatabase(DB);
    const { daemon } = await startDaemon(config(), dir.path);
    try {
      const msgs = [
        ...HOME.map((temperature, i) => ({ topic: 'home/t1/th', payload: JSON.stringify({ ts: BASE + i * 1000, temperature }) })),
        ...GARDEN.map((temperature, i) => ({ topic: 'garden/g1/th', payload: JSON.stringify({ ts: BASE + i * 1000, temperature }) })),
        { topic: 'home/t3/th', payload: JSON.stringify({ ts: BASE, temperature: 30 }) }, // a third series: the global series_limit refuses it
      ];
      const c = await publisher(daemon.brokerPort!);
      try {
        await publishAll(c, msgs, 1);
      } finally {
        await c.endAsync();
      }
      // t3's reading is the last record: once refused, every record went through the pipeline;
      // once the cursor is at the head, everything the pipeline let through is written.
      const refused = () => daemon.counters.get('pipeline_rejected', { output: 'local', op: 'series_limit', reason: 'series_limit', outcome: 'dropped' });
      await waitFor(() => refused() === 1 && daemon.spoolStatus()?.outputs[0]?.behind === 0, 10_000, 'caught up', 50);
      expect(await points()).toEqual({ t1: [20, 20.6, 21.5], g1: [10, 10.2, 10.3] });
      expect(daemon.counters.total('messages_failed')).toBe(0);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  });
});
