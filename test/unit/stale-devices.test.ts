import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/observe/logger.js';
import { DEVICE_STATUS_MEASUREMENT, StaleDevices, type StaleDevicesOptions } from '../../src/observe/stale-devices.js';
import type { Reading } from '../../src/types.js';

function capture() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  const logger = { warn: at('warn'), info: at('info'), error: at('error'), debug: at('debug') } as unknown as Logger;
  return { logger, lines };
}

const reading = (device: string): Reading => ({ measurement: 'climate', tags: { device, location: 'kitchen' }, fields: { t: 1 }, time: 0n });

describe('StaleDevices on virtual time', () => {
  let tracker: StaleDevices | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2026, 0, 10));
  });
  afterEach(() => {
    tracker?.stop();
    tracker = undefined;
    vi.useRealTimers();
  });

  function make(opts: Partial<StaleDevicesOptions> = {}) {
    const log = capture();
    const statuses: Reading[] = [];
    tracker = new StaleDevices({ logger: log.logger, onStatus: (r) => statuses.push(r), checkEveryMs: 1000, minSilenceMs: 20_000, ...opts });
    tracker.start();
    return { ...log, statuses, t: tracker };
  }

  /** A device reporting every `everyMs`, `times` times, advancing virtual time. */
  async function reports(t: StaleDevices, device: string, everyMs: number, times: number) {
    for (let i = 0; i < times; i++) {
      t.observe([reading(device)]);
      await vi.advanceTimersByTimeAsync(everyMs);
    }
  }

  it('learns a 10 s interval, warns once after 3 intervals of silence, and says when it is back', async () => {
    const { t, lines, statuses } = make();
    await reports(t, 'th1', 10_000, 6); // learned after 3 gaps; last reading at T+50 s, now T+60 s
    expect(t.list()[0]).toMatchObject({ device: 'th1', expectedIntervalMs: 10_000, learned: true, stale: false, readings: 6 });
    await vi.advanceTimersByTimeAsync(19_000); // silent 29 s: limit is max(3 × 10 s, 20 s) = 30 s
    expect(t.stale).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(t.stale).toBe(1);
    await vi.advanceTimersByTimeAsync(600_000); // stays stale: no second warning
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toBe('device th1 is silent for 31s (expected every 10s)');
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({
      measurement: DEVICE_STATUS_MEASUREMENT,
      tags: { device: 'th1', check: 'stale' },
      fields: { online: false, silent_s: 31, expected_interval_s: 10 },
    });
    expect(statuses[0]!.time).toBe(BigInt(Date.UTC(2026, 0, 10) + 81_000) * 1_000_000n);

    t.observe([reading('th1')]);
    expect(t.stale).toBe(0);
    expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual(['device th1 is back after 11m']);
    expect(statuses[1]).toMatchObject({ fields: { online: true, expected_interval_s: 10 } });
    // The long silence was not learned as the device's interval.
    expect(t.list()[0]!.expectedIntervalMs).toBe(10_000);
  });

  it('never judges a device with no interval given, learned or defaulted', async () => {
    const { t, statuses } = make();
    t.seen('once');
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(statuses).toEqual([]);
    expect(t.list()[0]).toMatchObject({ device: 'once', learned: false, stale: false });
    expect(t.list()[0]!.expectedIntervalMs).toBeUndefined();
  });

  it('uses an interval given with seen() (a profile), then config, then the default', async () => {
    const { t, statuses } = make({ intervals: { cfg: 60_000 }, defaultIntervalMs: 5_000 });
    t.seen('prof', Date.now(), 120_000);
    t.seen('cfg');
    t.seen('dflt');
    await vi.advanceTimersByTimeAsync(21_000); // default: max(15 s, 20 s min silence)
    expect(statuses.map((s) => s.tags.device)).toEqual(['dflt']);
    await vi.advanceTimersByTimeAsync(160_000); // cfg: 180 s
    expect(statuses.map((s) => s.tags.device)).toEqual(['dflt', 'cfg']);
    await vi.advanceTimersByTimeAsync(180_000); // prof: 360 s
    expect(statuses.map((s) => s.tags.device)).toEqual(['dflt', 'cfg', 'prof']);
  });

  it('treats readings within min_gap as one burst (two measurements at once are not a 0 s interval)', async () => {
    const { t } = make();
    for (let i = 0; i < 5; i++) {
      t.observe([reading('multi')]);
      await vi.advanceTimersByTimeAsync(50);
      t.observe([reading('multi')]);
      await vi.advanceTimersByTimeAsync(59_950);
    }
    expect(t.list()[0]!.expectedIntervalMs).toBe(60_000);
  });

  it('ignores readings without the device tag, and honours another tag name', async () => {
    const { t } = make({ tag: 'sensor' });
    t.observe([reading('x'), { measurement: 'm', tags: { sensor: 's1' }, fields: { v: 1 }, time: 0n }]);
    expect(t.list().map((d) => d.device)).toEqual(['s1']);
  });

  it('stays bounded: forgets the least recently seen beyond max_devices, and long-silent ones', async () => {
    const { t } = make({ maxDevices: 3, forgetAfterMs: 3_600_000 });
    for (const d of ['a', 'b', 'c']) t.seen(d);
    t.seen('a'); // within the same second: the order is kept (recency counts to the second)
    await vi.advanceTimersByTimeAsync(1000);
    t.seen('a'); // a is now the most recent
    t.seen('d'); // evicts b
    expect(
      t
        .list()
        .map((d) => d.device)
        .sort(),
    ).toEqual(['a', 'c', 'd']);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(t.size).toBe(0);
  });

  it("a device that takes a forgotten one's place starts afresh, and thousands of devices each keep their own state", async () => {
    const { t, statuses } = make({ maxDevices: 2, intervals: {} });
    t.seen('old', Date.now(), 5_000);
    await vi.advanceTimersByTimeAsync(30_000); // stale: limit max(15 s, 20 s)
    expect(t.stale).toBe(1);
    t.seen('b');
    t.seen('c'); // forgets 'old' (least recently seen), stale with it
    expect(t.stale).toBe(0);
    expect(t.list().find((d) => d.device === 'c')).toEqual({
      device: 'c',
      firstSeenMs: Date.now(),
      lastSeenMs: Date.now(),
      readings: 1,
      learned: false,
      stale: false,
    });
    expect(statuses).toHaveLength(1);
    t.stop();

    const many = make({ maxDevices: 5_000 }).t;
    for (let round = 1; round <= 3; round++) {
      for (let d = 0; d < 3_000; d++) if (d % round === 0) many.seen(`d${d}`, Date.now() + d);
      await vi.advanceTimersByTimeAsync(10_000);
    }
    const list = new Map(many.list().map((d) => [d.device, d]));
    expect(list.size).toBe(3_000);
    expect(list.get('d7')).toMatchObject({ readings: 1, lastSeenMs: Date.UTC(2026, 0, 10) + 30_000 + 7 }); // make() above ran 30 s
    expect(list.get('d6')).toMatchObject({ readings: 3, firstSeenMs: Date.UTC(2026, 0, 10) + 30_000 + 6 });
  });

  it('stop() frees its timer', () => {
    make();
    tracker!.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("adopt(): a reload's new instance takes over last-seen, learned intervals and stale flags", async () => {
    const a = make();
    await reports(a.t, 'th1', 5_000, 5);
    await reports(a.t, 'th2', 5_000, 1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.t.stale).toBe(1); // th1 learned 5 s and went silent; th2 never learned an interval
    a.t.stop();
    const b = make();
    b.t.adopt(a.t);
    expect(b.t.stale).toBe(1);
    expect(b.t.list()).toEqual(a.t.list());
    b.t.observe([reading('th1')]);
    expect(b.t.stale).toBe(0);
    expect(b.lines.filter((l) => l.msg.includes('is back'))).toHaveLength(1);
    expect(b.statuses.map((r) => r.fields.online)).toEqual([true]);
  });
});
