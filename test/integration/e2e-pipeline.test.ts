import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import type { Daemon } from '../../src/daemon.js';

// Stream shaping end to end: embedded broker → journal → per-rule pipelines (a 1-minute
// window with mean/min/max, a deadband) → a real influxd 1.6.7; then restarts on the same
// spool: the window left open at the stop is replayed from the journal and closes on the
// same point, and nothing is written twice as a distinct point.

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

const DB = 'shaping';
const MINUTE = 60_000;
/** Event times: whole minutes, ten minutes ago (InfluxDB keeps them; the grid is the epoch's). */
const BASE = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;

function config(): string {
  return `
broker: { port: 0 }
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms }
    pipeline:
      - window: { every: 1m, aggregates: [mean, min, max] }
  - topic: "meters/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms }
    pipeline:
      - deadband: { field: power, abs: 0.5 }
pipeline:
  - series_limit: { max_series: 100 }
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

/** Temperature readings of window `w` (minute `w` after BASE): a few, at odd offsets inside it. */
function windowReadings(w: number): { ts: number; temperature: number }[] {
  return [3, 17, 29, 44, 58].slice(0, 3 + (w % 3)).map((s, i) => ({ ts: BASE + w * MINUTE + s * 1000, temperature: 20 + w + ((i * 7) % 5) / 4 }));
}

/** The window's point as a straightforward computation. */
function expectedWindow(w: number): { time: number; mean: number; min: number; max: number } {
  const v = windowReadings(w).map((r) => r.temperature);
  return { time: BASE + w * MINUTE, mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) };
}

const POWER = [10, 10.1, 10.3, 10.9, 11.0, 9.5, 9.6, 9.6, 12.25, 11.9];
/** Deadband by hand: first value, then each value more than 0.5 away from the last written one. */
function expectedPower(): { time: number; power: number }[] {
  const out: { time: number; power: number }[] = [];
  POWER.forEach((p, i) => {
    const last = out.at(-1);
    if (last === undefined || Math.abs(p - last.power) > 0.5) out.push({ time: BASE + i * 1000, power: p });
  });
  return out;
}

const climateMsgs = (ws: readonly number[]) =>
  ws.flatMap((w) => windowReadings(w).map((r) => ({ topic: 'sensors/kitchen/th1/climate', payload: JSON.stringify(r) })));

async function publishTo(daemon: Daemon, msgs: { topic: string; payload: string }[]): Promise<void> {
  const c = await publisher(daemon.brokerPort!);
  try {
    await publishAll(c, msgs, 1);
  } finally {
    await c.endAsync();
  }
}

async function climatePoints(): Promise<{ time: number; mean: number; min: number; max: number }[]> {
  const res = await influx.query('SELECT temperature_mean, temperature_min, temperature_max FROM climate', DB);
  const values = (res.results[0].series?.[0]?.values ?? []) as [string, number, number, number][];
  return values.map(([t, mean, min, max]) => ({ time: Date.parse(t), mean, min, max }));
}

async function powerPoints(): Promise<{ time: number; power: number }[]> {
  const res = await influx.query('SELECT power FROM energy', DB);
  const values = (res.results[0].series?.[0]?.values ?? []) as [string, number][];
  return values.map(([t, power]) => ({ time: Date.parse(t), power }));
}

function expectWindows(got: Awaited<ReturnType<typeof climatePoints>>, ws: readonly number[]): void {
  expect(got.map((p) => p.time)).toEqual(ws.map((w) => BASE + w * MINUTE));
  got.forEach((p, i) => {
    const e = expectedWindow(ws[i] as number);
    expect(p.mean).toBeCloseTo(e.mean, 9);
    expect(p.min).toBe(e.min);
    expect(p.max).toBe(e.max);
  });
}

/** Waits until the output has read everything journaled and written every point made from it (open windows make none yet). */
async function settled(daemon: Daemon): Promise<void> {
  await waitFor(
    () => {
      const o = daemon.spoolStatus()?.outputs[0];
      return o?.state === 'up' && o.unread === 0 && o.unwritten === 0;
    },
    10_000,
    'every point made so far written',
  );
}

describe('stream shaping end to end (embedded broker → influxd)', () => {
  it('windows and deadband give exactly the expected points, and restarts replay onto the same points', async () => {
    await influx.createDatabase(DB);

    // Run 1: the deadband readings, then windows 0..3 (3 stays open: no later reading closes it).
    let { daemon } = await startDaemon(config(), dir.path);
    try {
      await publishTo(
        daemon,
        POWER.map((power, i) => ({ topic: 'meters/m1/energy', payload: JSON.stringify({ ts: BASE + i * 1000, power }) })),
      );
      await publishTo(daemon, climateMsgs([0, 1, 2, 3]));
      await waitFor(async () => (await climatePoints()).length >= 3 && (await powerPoints()).length >= expectedPower().length, 20_000, 'run 1 points', 100);
      await settled(daemon);
      expectWindows(await climatePoints(), [0, 1, 2]);
      expect(await powerPoints()).toEqual(expectedPower());
      expect(daemon.counters.total('pipeline_rejected')).toBe(0);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
    // Durable mode: the open window was not flushed early; it waits in the journal.
    expectWindows(await climatePoints(), [0, 1, 2]);

    // Run 2, same spool: window 3 is rebuilt from the journal, window 4's readings close it.
    ({ daemon } = await startDaemon(config(), dir.path));
    try {
      const replayed = daemon.spoolStatus()!.outputs[0]!;
      expect(replayed.behind).toBe(windowReadings(3).length); // exactly window 3's readings are replayed
      await publishTo(daemon, climateMsgs([4]));
      await waitFor(async () => (await climatePoints()).length >= 4, 20_000, 'window 3', 100);
      await settled(daemon);
      expectWindows(await climatePoints(), [0, 1, 2, 3]);
      // A late reading (window 1 is long closed) is counted and dropped.
      await publishTo(daemon, [{ topic: 'sensors/kitchen/th1/climate', payload: JSON.stringify({ ts: BASE + MINUTE + 1000, temperature: 99 }) }]);
      await waitFor(
        () => daemon.counters.get('pipeline_rejected', { output: 'local', op: 'window', reason: 'late', outcome: 'dropped' }) === 1,
        10_000,
        'late counted',
      );
    } finally {
      expect(await daemon.stop()).toBe(true);
    }

    // Run 3: window 4 (and the late reading) replay again; no new or changed point.
    ({ daemon } = await startDaemon(config(), dir.path));
    try {
      expect(daemon.spoolStatus()!.outputs[0]!.behind).toBe(windowReadings(4).length + 1);
      // The late reading is the last record: once it is counted again, the whole replay went through the pipeline.
      await waitFor(
        () => daemon.counters.get('pipeline_rejected', { output: 'local', op: 'window', reason: 'late', outcome: 'dropped' }) === 1,
        10_000,
        'replay done',
      );
      await settled(daemon);
      expectWindows(await climatePoints(), [0, 1, 2, 3]);
      expect(await powerPoints()).toEqual(expectedPower());
      expect(await influx.count(DB, 'climate')).toBe(4);
      expect(await influx.count(DB, 'energy')).toBe(expectedPower().length);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  });
});
