/**
 * What the status page shows, computed without a server (status-snapshot.ts,
 * status-devices.ts); the feed over real HTTP and in chromium: health-server.test.ts,
 * status-page.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { BadInputLog } from '../../src/observe/bad-input.js';
import { Counters } from '../../src/observe/counters.js';
import { DeviceTable } from '../../src/observe/device-table.js';
import { silentLogger } from '../../src/observe/logger.js';
import { devicePage, formatFields, formatReading } from '../../src/observe/status-devices.js';
import { StatusSnapshots, statusView, tailInto, TAIL_LINES, type StatusFacts } from '../../src/observe/status-snapshot.js';
import type { Reading } from '../../src/types.js';

const reading = (device: string, fields: Reading['fields'] = { t: 21.5 }): Reading => ({ measurement: 'climate', tags: { device }, fields, time: 0n });

describe('statusView', () => {
  it('takes filter, sort, page and tail from the query; nonsense falls back to the defaults', () => {
    const v = statusView(new URLSearchParams({ filter: 'KitChen', sort: 'readings', page: '3', tail: 'th1' }));
    expect([v.filter, v.sort, v.page, v.tail?.text]).toEqual(['kitchen', 'readings', 3, 'th1']);
    const d = statusView(new URLSearchParams({ sort: 'nope', page: 'x', filter: 'a'.repeat(300) }));
    expect([d.sort, d.page, d.filter.length, d.tail]).toEqual(['last_seen', 0, 256, undefined]);
    expect(statusView(new URLSearchParams({ page: '-4' })).page).toBe(0);
    expect(statusView(new URLSearchParams({ page: '1e9' })).page).toBe(1e6);
  });

  it('tails one device by name, or the topics a filter matches; keeps TAIL_LINES lines and counts the rest', () => {
    const byDevice = statusView(new URLSearchParams({ tail: 'th1' }));
    tailInto(byDevice, [reading('th1'), reading('th2')], 'sensors/x', 'device');
    expect(byDevice.tailLines).toEqual(['sensors/x  climate,device=th1 t=21.5']);
    const byTopic = statusView(new URLSearchParams({ tail: 'sensors/+/climate' }));
    tailInto(byTopic, [reading('a')], 'sensors/kitchen/climate', 'device');
    tailInto(byTopic, [reading('b')], 'other/kitchen/climate', 'device');
    expect(byTopic.tailLines).toEqual(['sensors/kitchen/climate  climate,device=a t=21.5']);
    for (let i = 0; i < TAIL_LINES + 5; i++) tailInto(byTopic, [reading('a')], 'sensors/k/climate', 'device');
    expect([byTopic.tailLines.length, byTopic.tailDropped]).toEqual([TAIL_LINES, 6]);
    const none = statusView(new URLSearchParams());
    tailInto(none, [reading('a')], 'sensors/k/climate', 'device');
    expect(none.tailLines).toEqual([]);
  });
});

describe('StatusSnapshots', () => {
  function setup(facts: () => StatusFacts, receivedAt?: (seq: number) => Promise<number | undefined>) {
    let now = 10_000;
    const counters = new Counters();
    const devices = new DeviceTable();
    const snapshots = new StatusSnapshots({
      counters,
      devices,
      bad: new BadInputLog(),
      facts,
      ...(receivedAt && { receivedAt }),
      health: async () => ({ status: 'ok', time: '', uptime_s: 0, reasons: [], outputs: [] }),
      logger: silentLogger(),
      now: () => now,
    });
    return { counters, devices, snapshots, at: (ms: number) => (now = ms) };
  }
  type Snap = {
    flow: { in: Record<string, number>; bad: Record<string, number>; out: Record<string, number>; ignored_per_s: number };
    outputs: { id: string; drain_per_s: number; eta_s: number | null; lag_s: number | null }[];
    spool: { oldest_unwritten_s: number | null } | null;
    devices: { total: number };
    tail?: { lines: string[]; dropped: number };
  };

  it('rates over the last interval, each output drain rate, ETA and lag (the age of its oldest unwritten message)', async () => {
    let cursor = 100;
    const facts = (): StatusFacts => ({
      outputs: [
        { id: 'local', state: 'up', behind: 1000, cursor },
        { id: 'idle', state: 'up', behind: 0, cursor: 7 },
      ],
      spool: { mode: 'durable', bytes: 1, maxBytes: 2, dropped: 0, holding: 0 },
    });
    const asked: number[] = [];
    const { counters, snapshots, at } = setup(facts, async (seq) => (asked.push(seq), 4_000));
    snapshots.begin();
    counters.inc('messages_received', { source: 'broker' }, 500);
    counters.inc('messages_failed', { source: 'broker', reason: 'bad_json' }, 2);
    counters.inc('messages_ignored', { source: 'broker' }, 10);
    at(11_000);
    const first = (await snapshots.of(statusView(new URLSearchParams()))) as Snap;
    expect(first.flow).toEqual({ in: { broker: 500 }, bad: { bad_json: 2 }, out: {}, ignored_per_s: 10 });
    expect(first.outputs.map((o) => [o.id, o.drain_per_s, o.eta_s, o.lag_s])).toEqual([
      ['local', 0, null, 7],
      ['idle', 0, null, 0],
    ]);
    expect(first.spool?.oldest_unwritten_s).toBe(7);
    expect(asked).toEqual([100]); // only the backlogged output's journal record is read

    cursor = 600;
    counters.inc('points_written', { output: 'local' }, 300);
    at(13_000);
    const second = (await snapshots.of(statusView(new URLSearchParams()))) as Snap;
    expect(second.flow.out).toEqual({ local: 150 });
    expect(second.outputs[0]).toMatchObject({ drain_per_s: 250, eta_s: 4, lag_s: 9 });
    // Another view within the same interval shares the rates: no second journal read.
    at(13_100);
    const other = (await snapshots.of(statusView(new URLSearchParams()))) as Snap;
    expect(other.flow.out).toEqual({ local: 150 });
    expect(asked).toEqual([100, 600]);
  });

  it('an age that cannot be read is unknown (null), not a failed snapshot', async () => {
    const facts = (): StatusFacts => ({
      outputs: [{ id: 'local', state: 'down', behind: 5, cursor: 1 }],
      spool: { mode: 'durable', bytes: 1, maxBytes: 2, dropped: 0, holding: 0 },
    });
    const { snapshots, at } = setup(facts, () => Promise.reject(new Error('EIO')));
    snapshots.begin();
    at(11_000);
    const s = (await snapshots.of(statusView(new URLSearchParams()))) as Snap;
    expect([s.outputs[0]?.lag_s, s.spool?.oldest_unwritten_s]).toEqual([null, null]);
  });

  it('hands a view its tail lines once, with the count of those it dropped', async () => {
    const { snapshots } = setup(() => ({ outputs: [] }));
    const v = statusView(new URLSearchParams({ tail: 'th1' }));
    for (let i = 0; i < TAIL_LINES + 1; i++) tailInto(v, [reading('th1')], 't', 'device');
    const s = (await snapshots.of(v)) as Snap;
    expect([s.tail?.lines.length, s.tail?.dropped, s.spool]).toEqual([TAIL_LINES, 1, null]);
    expect(((await snapshots.of(v)) as Snap).tail).toEqual({ filter: 'th1', lines: [], dropped: 0 });
  });
});

describe('devicePage', () => {
  const table = () => {
    const t = new DeviceTable('device', 100, (_source, topic) => (topic === 'units' ? { t: '°C' } : undefined));
    t.observe([reading('b-kitchen')], 'broker', 1000, 'units');
    t.observe([reading('a-hall'), reading('a-hall')], 'serial', 3000);
    t.observe([reading('c-attic', { s: 'x'.repeat(50), on: true, n: 3n })], 'broker', 2000);
    return t;
  };

  it('filters, sorts and pages; past the last page gives the last', () => {
    const rows = (q: Partial<Parameters<typeof devicePage>[0]>, size = 50) =>
      devicePage({ filter: '', sort: 'last_seen', page: 0, prev: new Map(), prevAt: 0, ...q }, table().rows(), new Set(), size, 5000);
    expect(rows({}).rows.map((r) => r.device)).toEqual(['a-hall', 'c-attic', 'b-kitchen']);
    expect(rows({ sort: 'device' }).rows.map((r) => r.device)).toEqual(['a-hall', 'b-kitchen', 'c-attic']);
    expect(rows({ sort: 'readings' }).rows[0]?.device).toBe('a-hall');
    expect(rows({ sort: 'source' }).rows.map((r) => r.device)).toEqual(['c-attic', 'b-kitchen', 'a-hall']);
    expect(rows({ filter: 'serial' }).rows.map((r) => r.device)).toEqual(['a-hall']);
    expect(rows({ filter: 'kitchen' })).toMatchObject({ total: 1, page: 0, pages: 1 });
    const last = rows({ sort: 'device', page: 9 }, 2);
    expect([last.total, last.page, last.pages, last.rows.map((r) => r.device)]).toEqual([3, 1, 2, ['c-attic']]);
  });

  it('readings per minute since the view’s previous page; state: availability, stale or online; values with units', () => {
    const t = table();
    const q = { filter: '', sort: 'device' as const, page: 0, prev: new Map<string, number>(), prevAt: 0 };
    const first = devicePage(q, t.rows(), new Set(['c-attic']), 50, 5000);
    expect(first.rows.map((r) => r.per_min)).toEqual([null, null, null]);
    expect(first.rows.map((r) => [r.device, r.state, r.values])).toEqual([
      ['a-hall', 'online', 't=21.5'],
      ['b-kitchen', 'online', 't=21.5 °C'],
      ['c-attic', 'stale', `s=${JSON.stringify('x'.repeat(39) + '…')} on=true n=3`],
    ]);
    t.observe([reading('a-hall'), reading('a-hall'), reading('a-hall')], 'serial', 20_000);
    t.observe([{ measurement: 'device_status', tags: { device: 'b-kitchen' }, fields: { state: 'offline' }, time: 0n }], 'broker', 20_000);
    const second = devicePage(q, t.rows(), new Set(), 50, 35_000); // half a minute later
    expect(second.rows.map((r) => [r.device, r.per_min, r.state])).toEqual([
      ['a-hall', 6, 'online'],
      ['b-kitchen', 0, 'offline'],
      ['c-attic', 0, 'online'],
    ]);
  });
});

describe('status text', () => {
  it('formats at most 8 fields, rounding floats to 3 places, units on numbers only', () => {
    const fields: Record<string, unknown> = { a: 1.23456, b: 2n, c: 'on', d: false };
    for (let i = 0; i < 6; i++) fields[`x${i}`] = i;
    expect(formatFields(fields, { a: 'V', b: 'W', c: 'ignored' })).toBe('a=1.235 V b=2 W c="on" d=false x0=0 x1=1 x2=2 x3=3 …');
    expect(formatReading({ measurement: 'm', tags: {}, fields: { v: 1 }, time: 0n })).toBe('m v=1');
  });
});
