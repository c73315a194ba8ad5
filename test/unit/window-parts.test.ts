/**
 * The window step's parts on their own: the options and grid (window-spec.ts), a series'
 * windows and the aggregation math (window-series.ts), and what is known of a series not
 * in the table (window-memory.ts). The operator as a whole: window.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Holdback } from '../../src/pipeline/holdback.js';
import { WindowLedger } from '../../src/pipeline/replay-state.js';
import { resolveContext, seriesKey, type Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { WindowMemory } from '../../src/pipeline/window-memory.js';
import { MAX_FIELDS_PER_SERIES, SeriesWindows, WindowAggregator, type Win } from '../../src/pipeline/window-series.js';
import { WindowSpec, type WindowOptions } from '../../src/pipeline/window-spec.js';
import { ns, rd } from '../helpers/pipeline.js';

const MIN = 60_000;
const DAY = 86_400_000;

describe('WindowSpec', () => {
  it('puts an event time into the window of the epoch grid, shifted by offset, that holds it (before the epoch too)', () => {
    const plain = new WindowSpec({ every: MIN });
    expect(plain.startOf(ns(0))).toBe(ns(0));
    expect(plain.startOf(ns(59_999))).toBe(ns(0));
    expect(plain.startOf(ns(60_000))).toBe(ns(MIN));
    expect(plain.startOf(ns(-1))).toBe(ns(-MIN));
    expect(plain.startOf(ns(-MIN))).toBe(ns(-MIN));
    const shifted = new WindowSpec({ every: MIN, offset: 10_000 });
    expect(shifted.startOf(ns(5_000))).toBe(ns(-50_000));
    expect(shifted.startOf(ns(10_000))).toBe(ns(10_000));
    expect(shifted.startOf(ns(69_999))).toBe(ns(10_000));
  });

  it('resolves the defaults: idle is period + lateness, a gone series is remembered a day or 7 periods, samples only for percentiles', () => {
    const s = new WindowSpec({ every: MIN, period: 3 * MIN, allowed_lateness: 30_000 });
    expect([s.tumbling, s.idle, s.memory, s.samples, s.suffix, s.keepRaw, s.lateRaw]).toEqual([false, 3 * MIN + 30_000, DAY, 0, '', false, false]);
    expect(s.latePlusPeriodNs).toBe(ns(3 * MIN + 30_000));
    const daily = new WindowSpec({ every: DAY, aggregates: ['p90'], max_samples: 7, naming: 'measurement', keep_raw: true, idle: 5 });
    expect([daily.tumbling, daily.idle, daily.memory, daily.samples, daily.suffix, daily.lateRaw]).toEqual([true, 5, 7 * DAY, 7, '_1d', true]);
    expect(new WindowSpec({ every: MIN, late: 'raw' }).lateRaw).toBe(true);
  });

  it('names output fields <field>_<aggregate> and knows which readings it aggregates', () => {
    const s = new WindowSpec({ every: MIN, aggregates: ['min', 'max'], fields: ['t'] });
    expect([s.outName('t', 0), s.outName('t', 1), s.outName('rh', 1)]).toEqual(['t_min', 't_max', 'rh_max']);
    const many = Array.from({ length: 5000 }, (_, i) => `f${i}`); // past the name cache
    expect(many.map((f) => s.outName(f, 1))).toEqual(many.map((f) => `${f}_max`));
    expect(s.aggregatesAny({ rh: 1, t: 2 })).toBe(true);
    expect(s.aggregatesAny({ rh: 1 })).toBe(false);
    expect(new WindowSpec({ every: MIN }).aggregatesAny({ anything: 1 })).toBe(true);
  });

  it('refuses nonsense options, naming the option', () => {
    const bad: [WindowOptions, RegExp][] = [
      [{ every: 0 }, /every must be >= 1/],
      [{ every: MIN, period: 1000 }, /period .* must not be shorter/],
      [{ every: MIN, offset: MIN }, /offset must be in \[0, every\)/],
      [{ every: MIN, aggregates: [] }, /at least one aggregate/],
      [{ every: MIN, max_samples: 0 }, /max_samples/],
      [{ every: MIN, allowed_lateness: -1 }, /allowed_lateness/],
      [{ every: 1000, period: 2_000_000 }, /spans more than 1000 windows/],
    ];
    for (const [o, message] of bad) expect(() => new WindowSpec(o), JSON.stringify(o)).toThrow(message);
  });
});

describe('WindowAggregator', () => {
  const series = (maxTime = ns(0), closedStart = ns(-MIN), written?: Map<number, number>) =>
    new SeriesWindows('k', 'climate', { device: 'd1' }, maxTime, closedStart, undefined, written);
  function setup(options: WindowOptions) {
    const spec = new WindowSpec(options);
    const holdback = new Holdback();
    const agg = new WindowAggregator(spec, holdback);
    const closed: Win[] = [];
    /** Adds the reading, then moves the watermark, as the step does; returns the fields skipped. */
    const take = (s: SeriesWindows, t: ReturnType<typeof rd>) => {
      const skipped = agg.add(s, t, spec.startOf(t.reading.time));
      agg.advance(s, t.reading.time, (_, w) => closed.push(w));
      return skipped;
    };
    return { spec, holdback, agg, closed, take };
  }

  it('adds readings to their tumbling window, holding its lowest seq, and hands it over when the watermark reaches its end', () => {
    const { holdback, agg, closed, take } = setup({ every: MIN, aggregates: ['mean', 'count'] });
    const s = series();
    take(s, rd({ t: 1000, f: { v: 1 }, seq: 7 }));
    take(s, rd({ t: 2000, f: { v: 3 }, seq: 5 })); // lower seq: the hold moves to it
    expect(s.wins.map((w) => [w.start, w.lo, w.hi])).toEqual([[ns(0), 5, 7]]);
    expect(holdback.lowestHeld()).toBe(5);
    expect(s.maxTime).toBe(ns(2000));
    take(s, rd({ t: MIN, f: { v: 9 }, seq: 8 }));
    expect(closed.map((w) => [w.start, agg.fields(s, w)])).toEqual([[ns(0), { v_mean: 2, v_count: 2n }]]);
    expect(s.wins.map((w) => w.start)).toEqual([ns(MIN)]);
    expect(s.closedStart).toBe(ns(0));
    expect(holdback.lowestHeld()).toBe(5); // releasing a closed window is the step's part
  });

  it('adds a reading to every open hopping window that holds it, none at or before closedStart', () => {
    const { take } = setup({ every: MIN, period: 3 * MIN });
    const s = series(ns(0), ns(-2 * MIN));
    take(s, rd({ t: 130_000, f: { v: 1 }, seq: 1 })); // in [0, 180 s), [60 s, 240 s), [120 s, 300 s); [-60 s, 120 s) is past
    expect(s.wins.map((w) => w.start)).toEqual([ns(0), ns(MIN), ns(2 * MIN)]);
    const t = setup({ every: MIN, period: 3 * MIN });
    const late = series(ns(0), ns(0)); // [0, 180 s) closed
    t.take(late, rd({ t: 130_000, f: { v: 1 }, seq: 1 }));
    expect(late.wins.map((w) => w.start)).toEqual([ns(MIN), ns(2 * MIN)]);
  });

  it('keeps at most MAX_FIELDS_PER_SERIES field slots per series and says how many fields it left out', () => {
    const { agg, take } = setup({ every: MIN, aggregates: ['count'] });
    const s = series();
    const wide: Record<string, number> = {};
    for (let i = 0; i < MAX_FIELDS_PER_SERIES + 3; i++) wide[`f${i}`] = i;
    expect(take(s, rd({ t: 0, f: wide, seq: 1 }))).toBe(3);
    expect(take(s, rd({ t: 1, f: { f0: 1, new: 2 }, seq: 2 }))).toBe(1);
    expect(s.names.length).toBe(MAX_FIELDS_PER_SERIES);
    expect(agg.fields(s, s.wins[0]!)?.f0_count).toBe(2n);
  });

  it('skips a window the run before wrote with this reading, takes a later reading into it, and forgets it once closed', () => {
    const { take } = setup({ every: MIN, aggregates: ['count'] });
    const s = series(ns(0), ns(-MIN), new Map([[Number(ns(0)), 10]]));
    take(s, rd({ t: 1000, f: { v: 1 }, seq: 9 })); // part of the written window
    expect(s.wins).toEqual([]);
    take(s, rd({ t: 2000, f: { v: 1 }, seq: 11 }));
    expect(s.wins.map((w) => [w.lo, w.hi])).toEqual([[11, 11]]);
    take(s, rd({ t: MIN, f: { v: 1 }, seq: 12 }));
    expect(s.written).toBeUndefined();
  });

  it('makes no point of a window whose aggregates have no value (a mean of strings)', () => {
    const { agg, take } = setup({ every: MIN, aggregates: ['mean'] });
    const s = series();
    take(s, rd({ t: 0, f: { state: 'on' }, seq: 1 }));
    expect(agg.fields(s, s.wins[0]!)).toBeUndefined();
  });
});

describe('WindowMemory', () => {
  const r = (t: number, seq = 1) => rd({ t, f: { v: 1 }, seq }).reading;
  const key = seriesKey(r(0));
  function setup(options: WindowOptions, ledger?: WindowLedger, maxGone = 10) {
    const clock = new StreamClock(0);
    const notices: Notice[] = [];
    const spec = new WindowSpec(options);
    const memory = new WindowMemory(spec, ledger, resolveContext({ scheduler: clock, onNotice: (n) => notices.push(n) }), maxGone);
    const open = (t: number) => memory.open(key, r(t), spec.startOf(ns(t)));
    return { clock, notices, spec, memory, open };
  }

  it('starts a series never seen from its first reading', () => {
    const { open } = setup({ every: MIN, allowed_lateness: 5000 });
    const s = open(90_000);
    expect(s).toBeInstanceOf(SeriesWindows);
    expect([s?.measurement, s?.maxTime, s?.closedStart, s?.floor, s?.written]).toEqual(['climate', ns(90_000), ns(90_000 - 65_000), undefined, undefined]);
  });

  it('a gone series: late up to the window of its newest reading, then back with that window as its floor; forgotten after its memory', () => {
    const { clock, memory, open, spec } = setup({ every: MIN, naming: 'measurement' });
    const gone = new SeriesWindows(key, 'climate_1m', {}, ns(90_000), ns(30_000), undefined, undefined);
    memory.forgot(key, gone, 100_000); // its last reading at 100 s of clock time
    clock.advanceTo(200_000);
    expect(open(61_000)).toBeUndefined(); // the window [60 s, 120 s) was written as it went idle
    const back = open(120_000);
    expect([back?.measurement, back?.maxTime, back?.closedStart, back?.floor]).toEqual(['climate_1m', ns(90_000), ns(MIN), ns(MIN)]);
    memory.back(key);
    expect(open(61_000)?.maxTime).toBe(ns(61_000)); // the table has it again: nothing remembered
    memory.forgot(key, gone, 100_000);
    clock.advanceTo(100_000 + spec.idle + spec.memory);
    expect(open(61_000)?.floor).toBeUndefined(); // remembered no longer
  });

  it('remembers at most maxGone gone series: the oldest is forgotten early, with a memory_limit notice', () => {
    const { memory, notices } = setup({ every: MIN }, undefined, 1);
    const s = (k: string) => new SeriesWindows(k, 'climate', {}, ns(1000), ns(-MIN), undefined, undefined);
    memory.forgot('climate\u0000device\u0001a', s('a'), 0);
    memory.forgot('climate\u0000device\u0001b', s('b'), 0);
    expect(notices.map((n) => [n.reason, n.outcome, n.series, n.reading.reading.time])).toEqual([['memory_limit', 'forgotten', 'climate,device=a', ns(1000)]]);
  });

  it('takes what the run before a restart knew: its newest time, floor and written windows, or that the series was gone', () => {
    const ledger = new WindowLedger(MIN, DAY, 10, () => 0);
    ledger.load({ series: [[key, String(ns(100_000)), 50_000, String(ns(MIN))]], written: [[key, String(ns(MIN)), 4]] });
    const { clock, open } = setup({ every: MIN }, ledger);
    clock.advanceTo(60_000); // idle at 110 s: not gone yet
    const s = open(70_000);
    expect([s?.maxTime, s?.closedStart, s?.floor, s?.written]).toEqual([ns(100_000), ns(MIN), ns(MIN), new Map([[Number(ns(MIN)), 4]])]);

    const before = new WindowLedger(MIN, DAY, 10, () => 0);
    before.load({ series: [[key, String(ns(100_000)), 50_000]], written: [] });
    const restarted = setup({ every: MIN }, before);
    restarted.clock.advanceTo(200_000); // idle since 110 s: gone, its window [60 s, 120 s) written
    expect(restarted.open(119_000)).toBeUndefined();
    expect(restarted.open(120_000)?.floor).toBe(ns(MIN)); // gone (the ledger tells it once, the gone memory keeps it): back from gone
  });
});
