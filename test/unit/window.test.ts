import fc from 'fast-check';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { percentile, type AggregateName } from '../../src/pipeline/aggregate.js';
import { Holdback, type SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { aggregateWindows, MAX_FIELDS_PER_SERIES, type WindowOptions } from '../../src/pipeline/window.js';
import type { FieldValue } from '../../src/types.js';
import { ns, point, rd, testScheduler } from '../helpers/pipeline.js';

const MIN = 60_000;

describe('window: marbles', () => {
  it('emits a tumbling window, stamped at its start, when the watermark passes its end', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1 }, seq: 1 });
      const b = rd({ t: 10_000, f: { temperature: 3 }, seq: 2 });
      const c = rd({ t: 61_000, f: { temperature: 5 }, seq: 3 });
      expectObservable(cold('abc|', { a, b, c }).pipe(aggregateWindows({ every: MIN }))).toBe('--x(y|)', {
        x: point(0, { temperature_mean: 2 }, 1),
        y: point(MIN, { temperature_mean: 5 }, 3),
      });
    });
  });

  it('closes a window as soon as the watermark equals its end', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1 }, seq: 1 });
      const b = rd({ t: 60_000, f: { temperature: 3 }, seq: 2 }); // exactly the end of [0, 60 s)
      expectObservable(cold('ab-|', { a, b }).pipe(aggregateWindows({ every: MIN }))).toBe('-x-(y|)', {
        x: point(0, { temperature_mean: 1 }, 1),
        y: point(MIN, { temperature_mean: 3 }, 2),
      });
    });
  });

  it('completes at once on an empty source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<SeqReading>('|').pipe(aggregateWindows({ every: MIN }))).toBe('|');
    });
  });

  it('never emits on a never source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<SeqReading>('-').pipe(aggregateWindows({ every: MIN }))).toBe('-');
    });
  });

  it('closes the windows of a quiet series after idle scheduler time (no complete needed)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 5_000, f: { temperature: 4 }, seq: 7 });
      // default idle = period + allowed_lateness = 60 s
      expectObservable(cold('a', { a }).pipe(aggregateWindows({ every: MIN }))).toBe('60s x', { x: point(0, { temperature_mean: 4 }, 7) });
      expectObservable(cold('a', { a }).pipe(aggregateWindows({ every: MIN, idle: 2000 }))).toBe('2s x', { x: point(0, { temperature_mean: 4 }, 7) });
    });
  });

  it('flushes the partial window on complete', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 1000, f: { temperature: 1 }, seq: 1 });
      const b = rd({ t: 2000, f: { temperature: 2 }, seq: 2 });
      expectObservable(cold('ab|', { a, b }).pipe(aggregateWindows({ every: MIN, aggregates: ['min', 'max', 'count'] }))).toBe('--(x|)', {
        x: point(0, { temperature_min: 1, temperature_max: 2, temperature_count: 2n }, 1),
      });
    });
  });

  it('flushes the partial window before forwarding an error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 1000, f: { temperature: 1 }, seq: 1 });
      expectObservable(cold('a#', { a }).pipe(aggregateWindows({ every: MIN }))).toBe('-(x#)', { x: point(0, { temperature_mean: 1 }, 1) });
    });
  });

  it('emits nothing after an early unsubscribe and unsubscribes from the source', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = rd({ t: 1000, f: { temperature: 1 }, seq: 1 });
      const src = cold('a 100ms a|', { a });
      expectObservable(src.pipe(aggregateWindows({ every: MIN, idle: 10 })), '^ 5ms !').toBe('');
      expectSubscriptions(src.subscriptions).toBe('^ 5ms !');
    });
  });

  it('counts a late reading and drops it, or passes it raw with late: raw', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1 }, seq: 1 });
      const c = rd({ t: 61_000, f: { temperature: 5 }, seq: 2 });
      const d = rd({ t: 30_000, f: { temperature: 9 }, seq: 3 }); // its window [0, 60 s) is closed
      const src = cold('acd|', { a, c, d });
      const ctx = { onNotice: (n: Notice) => notices.push(n) };
      expectObservable(src.pipe(aggregateWindows({ every: MIN }, ctx))).toBe('-x-(y|)', {
        x: point(0, { temperature_mean: 1 }, 1),
        y: point(MIN, { temperature_mean: 5 }, 2),
      });
      expectObservable(src.pipe(aggregateWindows({ every: MIN, late: 'raw' }, ctx))).toBe('-xd(y|)', {
        x: point(0, { temperature_mean: 1 }, 1),
        d,
        y: point(MIN, { temperature_mean: 5 }, 2),
      });
    });
    expect(notices.map((n) => [n.op, n.reason, n.outcome, n.series, n.reading.seq])).toEqual([
      ['window', 'late', 'dropped', 'climate,device=d1', 3],
      ['window', 'late', 'raw', 'climate,device=d1', 3],
    ]);
  });

  it('keeps a reading within allowed_lateness in its window', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1 }, seq: 1 });
      const c = rd({ t: 62_000, f: { temperature: 5 }, seq: 2 }); // watermark 57 s: [0, 60 s) stays open
      const d = rd({ t: 58_000, f: { temperature: 3 }, seq: 3 });
      const e = rd({ t: 66_000, f: { temperature: 7 }, seq: 4 }); // watermark 61 s: closes it
      expectObservable(cold('acde|', { a, c, d, e }).pipe(aggregateWindows({ every: MIN, allowed_lateness: 5000 }))).toBe('---x(y|)', {
        x: point(0, { temperature_mean: 2 }, 1),
        y: point(MIN, { temperature_mean: 6 }, 2),
      });
    });
  });

  it('puts a reading into every hopping window that contains it', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 90_000, f: { v: 2 }, seq: 1 }); // in [0, 120 s) and [60 s, 180 s)
      const b = rd({ t: 150_000, f: { v: 4 }, seq: 2 }); // in [60 s, 180 s) and [120 s, 240 s); closes [0, 120 s)
      expectObservable(cold('ab|', { a, b }).pipe(aggregateWindows({ every: MIN, period: 2 * MIN, aggregates: ['sum'] }))).toBe('-x(yz|)', {
        x: point(0, { v_sum: 2 }, 1),
        y: point(MIN, { v_sum: 6 }, 1),
        z: point(2 * MIN, { v_sum: 4 }, 2),
      });
    });
  });

  it('aligns windows to the epoch grid shifted by offset', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const H = 3_600_000;
      const a = rd({ t: 10 * H + 20 * MIN, f: { v: 1 } }); // grid 30 min past the hour → window [9:30, 10:30)
      expectObservable(cold('a|', { a }).pipe(aggregateWindows({ every: H, offset: 30 * MIN }))).toBe('-(x|)', {
        x: point(9 * H + 30 * MIN, { v_mean: 1 }, 0),
      });
    });
  });

  it('writes into <measurement>_<period> with naming: measurement, and keeps raw readings with keep_raw', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1 }, seq: 1 });
      const c = rd({ t: 61_000, f: { temperature: 5 }, seq: 2 });
      // a at 0, c at 10 (closes [0, 60 s): the aggregate, then c raw), complete at 20
      const src = cold('a 9ms c 9ms |', { a, c });
      expectObservable(src.pipe(aggregateWindows({ every: MIN, naming: 'measurement', keep_raw: true }))).toBe('a 9ms (xc) 6ms (y|)', {
        a,
        c,
        x: point(0, { temperature_mean: 1 }, 1, 'climate_1m'),
        y: point(MIN, { temperature_mean: 5 }, 2, 'climate_1m'),
      });
    });
  });

  it('keeps field types stable: count is an integer, sum follows the input, mean/stddev are floats', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { n: 2n, x: 1.5, ok: true, s: 'a' }, seq: 1 });
      const b = rd({ t: 1000, f: { n: 5n, x: 2.5, ok: false, s: 'b' }, seq: 2 });
      const aggregates: AggregateName[] = ['count', 'sum', 'mean', 'min', 'max', 'first', 'last', 'stddev'];
      expectObservable(cold('ab|', { a, b }).pipe(aggregateWindows({ every: MIN, aggregates }))).toBe('--(x|)', {
        x: point(
          0,
          {
            n_count: 2n,
            n_sum: 7n,
            n_mean: 3.5,
            n_min: 2n,
            n_max: 5n,
            n_first: 2n,
            n_last: 5n,
            n_stddev: Math.sqrt(4.5),
            x_count: 2n,
            x_sum: 4,
            x_mean: 2,
            x_min: 1.5,
            x_max: 2.5,
            x_first: 1.5,
            x_last: 2.5,
            x_stddev: Math.sqrt(0.5),
            ok_count: 2n,
            ok_first: true,
            ok_last: false,
            s_count: 2n,
            s_first: 'a',
            s_last: 'b',
          },
          1,
        ),
      });
    });
  });

  it('omits stddev below two values and takes first/last by event time', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 5000, f: { v: 1 }, seq: 1 });
      const b = rd({ t: 2000, f: { v: 2 }, seq: 2 }); // earlier event time, later arrival
      expectObservable(cold('a|', { a }).pipe(aggregateWindows({ every: MIN, aggregates: ['stddev', 'mean'] }))).toBe('-(x|)', {
        x: point(0, { v_mean: 1 }, 1),
      });
      expectObservable(cold('ab|', { a, b }).pipe(aggregateWindows({ every: MIN, aggregates: ['first', 'last'] }))).toBe('--(x|)', {
        x: point(0, { v_first: 2, v_last: 1 }, 1),
      });
    });
  });

  it('computes percentiles when asked', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const values: Record<string, SeqReading> = {};
      for (let i = 0; i < 10; i++) values[String(i)] = rd({ t: i * 1000, f: { v: i + 1 }, seq: i });
      expectObservable(cold('0123456789|', values).pipe(aggregateWindows({ every: MIN, aggregates: ['p50', 'p90', 'p99'] }))).toBe('10ms (x|)', {
        x: point(0, { v_p50: 5.5, v_p90: 9.1, v_p99: 9.91 }, 0),
      });
    });
  });

  it('aggregates only the listed fields and passes readings without any of them', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 1, humidity: 50 }, seq: 1 });
      const b = rd({ t: 1000, f: { battery: 90 }, seq: 2 });
      expectObservable(cold('ab|', { a, b }).pipe(aggregateWindows({ every: MIN, fields: ['temperature'] }))).toBe('-b(x|)', {
        b,
        x: point(0, { temperature_mean: 1 }, 1),
      });
    });
  });

  it('keeps series apart and refuses a series beyond max_series with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 }, tags: { device: 'd1' } });
      const b = rd({ t: 0, f: { v: 2 }, tags: { device: 'd2' } });
      const c = rd({ t: 0, f: { v: 3 }, tags: { device: 'd3' } });
      const op = aggregateWindows({ every: MIN, max_series: 2 }, { onNotice: (n) => notices.push(n) });
      expectObservable(cold('abc|', { a, b, c }).pipe(op)).toBe('---(xy|)', {
        x: point(0, { v_mean: 1 }, 0, 'climate', { device: 'd1' }),
        y: point(0, { v_mean: 2 }, 0, 'climate', { device: 'd2' }),
      });
    });
    expect(notices.map((n) => `${n.reason} ${n.outcome} ${n.series}`)).toEqual(['series_limit dropped climate,device=d3']);
  });

  it('aggregates at most MAX_FIELDS_PER_SERIES distinct fields per series and reports the rest', () => {
    const notices: Notice[] = [];
    const out: SeqReading[] = [];
    const input = new Subject<SeqReading>();
    input
      .pipe(aggregateWindows({ every: MIN, aggregates: ['count'] }, { scheduler: new StreamClock(0), onNotice: (n) => notices.push(n) }))
      .subscribe((p) => out.push(p));
    for (let i = 0; i < MAX_FIELDS_PER_SERIES + 2; i++) input.next(rd({ t: i, f: { base: 1, [`counter${i}`]: i }, seq: i }));
    input.complete();
    const fields = out[0]?.reading.fields ?? {};
    expect(Object.keys(fields).length).toBe(MAX_FIELDS_PER_SERIES);
    expect(fields.base_count).toBe(BigInt(MAX_FIELDS_PER_SERIES + 2));
    expect(notices.map((n) => `${n.reason} ${n.outcome} ${n.reading.seq}`)).toEqual([
      `field_limit dropped ${MAX_FIELDS_PER_SERIES - 1}`,
      `field_limit dropped ${MAX_FIELDS_PER_SERIES}`,
      `field_limit dropped ${MAX_FIELDS_PER_SERIES + 1}`,
    ]);
  });

  it('rejects nonsense options at construction', () => {
    expect(() => aggregateWindows({ every: 0 })).toThrow(RangeError);
    expect(() => aggregateWindows({ every: MIN, period: 1000 })).toThrow(/period/);
    expect(() => aggregateWindows({ every: MIN, offset: MIN })).toThrow(/offset/);
    expect(() => aggregateWindows({ every: 1000, allowed_lateness: 3_600_000 })).toThrow(/windows/);
  });
});

describe('window: seqs and the holdback', () => {
  function harness(options: WindowOptions) {
    const holdback = new Holdback();
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const sub = input.pipe(aggregateWindows(options, { holdback, scheduler: clock })).subscribe((t) => out.push(t));
    return { holdback, clock, input, out, sub };
  }

  it('holds the lowest seq of each open window and releases it when the window closes', () => {
    const h = harness({ every: MIN });
    h.input.next(rd({ t: 0, f: { v: 1 }, seq: 10, tags: { device: 'a' } }));
    h.input.next(rd({ t: 1000, f: { v: 1 }, seq: 11, tags: { device: 'b' } }));
    h.input.next(rd({ t: 2000, f: { v: 1 }, seq: 12, tags: { device: 'a' } }));
    expect(h.holdback.lowestHeld()).toBe(10);
    expect(h.holdback.commitBound(13)).toBe(10);
    h.clock.advanceTo(50_000);
    h.input.next(rd({ t: 61_000, f: { v: 2 }, seq: 13, tags: { device: 'a' } })); // closes a's [0, 60 s): seqs 10..12
    expect(h.out.map((t) => t.seq)).toEqual([10]);
    expect(h.holdback.lowestHeld()).toBe(11); // b's window
    // A cursor inside a's closed window (10, 12] would rebuild it from a suffix: moved down to 10.
    expect(h.holdback.commitBound(12)).toBe(10);
    h.clock.advanceTo(61_000); // b idle for 60 s of scheduler time, a only for 11 s
    expect(h.out.map((t) => t.seq)).toEqual([10, 11]);
    expect(h.holdback.lowestHeld()).toBe(13);
    expect(h.holdback.commitBound(14)).toBe(13);
    h.sub.unsubscribe();
  });

  it('keeps the holds of partial windows flushed on complete, so a replay rebuilds them whole', () => {
    const h = harness({ every: MIN });
    h.input.next(rd({ t: 0, f: { v: 1 }, seq: 5 }));
    h.input.next(rd({ t: 1000, f: { v: 3 }, seq: 6 }));
    h.input.complete();
    expect(h.out).toEqual([point(0, { v_mean: 2 }, 5)]);
    expect(h.holdback.commitBound(7)).toBe(5);
  });

  it('frees its timer and state on unsubscribe; holds stay (the journal still has the readings)', () => {
    const h = harness({ every: MIN });
    h.input.next(rd({ t: 0, f: { v: 1 }, seq: 5 }));
    expect(h.clock.pending).toBe(1);
    h.sub.unsubscribe();
    expect(h.clock.pending).toBe(0);
    h.clock.advanceTo(10 * MIN);
    expect(h.out).toEqual([]);
    expect(h.holdback.lowestHeld()).toBe(5);
  });

  it('replays deterministically: the same readings give the same points', () => {
    const readings = Array.from({ length: 500 }, (_, i) => rd({ t: i * 997, f: { v: (i * 37) % 11 }, seq: i, tags: { device: `d${i % 3}` } }));
    const runOnce = () => {
      const h = harness({ every: 10_000, period: 30_000, allowed_lateness: 2000, aggregates: ['mean', 'max', 'count'] });
      for (const r of readings) h.input.next(r);
      h.input.complete();
      return h.out;
    };
    expect(runOnce()).toEqual(runOnce());
  });
});

// ---------------------------------------------------------------------------------------
// Property: the operator equals a straightforward reference computation.

interface Sample {
  series: number;
  t: number;
  v: number;
  int: boolean;
}

const AGGS: AggregateName[] = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev', 'p50', 'p90'];

/** The definition, written the slow obvious way: per series, in arrival order. */
function reference(samples: Sample[], every: number, period: number, offset: number, lateness: number) {
  const windows = new Map<string, { series: number; start: number; items: { v: number; t: number; seq: number }[] }>();
  const maxT = new Map<number, number>();
  let late = 0;
  samples.forEach((s, seq) => {
    const wm = maxT.has(s.series) ? (maxT.get(s.series) as number) - lateness : -Infinity;
    let any = false;
    const first = Math.floor((s.t - offset) / every) * every + offset;
    for (let start = first; start + period > s.t; start -= every) {
      if (start + period <= wm) continue;
      any = true;
      const key = `${s.series}@${start}`;
      if (!windows.has(key)) windows.set(key, { series: s.series, start, items: [] });
      windows.get(key)?.items.push({ v: s.v, t: s.t, seq });
    }
    if (!any) late++;
    maxT.set(s.series, Math.max(maxT.get(s.series) ?? -Infinity, s.t));
  });
  const points = new Map<string, Record<string, number>>();
  for (const [key, w] of windows) {
    const vs = w.items.map((i) => i.v);
    const n = vs.length;
    const mean = vs.reduce((a, b) => a + b, 0) / n;
    const byTime = [...w.items].sort((a, b) => a.t - b.t || a.seq - b.seq);
    points.set(key, {
      seq: Math.min(...w.items.map((i) => i.seq)),
      count: n,
      sum: vs.reduce((a, b) => a + b, 0),
      mean,
      min: Math.min(...vs),
      max: Math.max(...vs),
      first: (byTime[0] as { v: number }).v,
      last: (byTime[n - 1] as { v: number }).v,
      ...(n >= 2 && { stddev: Math.sqrt(vs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) }),
      p50: percentile(vs, 50) as number,
      p90: percentile(vs, 90) as number,
    });
  }
  return { points, late };
}

/** Equal up to float rounding (relative 1e-9, absolute near zero). */
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

describe('window: property', () => {
  it('equals the reference computation over random readings, timestamps and lateness', () => {
    const sample = fc.record({
      series: fc.integer({ min: 0, max: 3 }),
      // Often on whole seconds, so that readings tie and sit exactly on window edges and watermarks.
      t: fc.oneof(
        fc.integer({ min: 0, max: 240 }).map((x) => x * 1000),
        fc.integer({ min: 0, max: 240_000 }),
      ),
      v: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
      int: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(sample, { maxLength: 150, size: 'max' }),
        fc.constantFrom(1000, 10_000, 60_000),
        fc.integer({ min: 1, max: 3 }),
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 0, max: 59 }).map((x) => x * 1000),
          fc.integer({ min: 0, max: 59_999 }),
        ),
        fc.constantFrom(0, 1000, 15_000, 90_000),
        (raw, every, hops, offsetSeed, lateness) => {
          // One field type per series (as InfluxDB needs): integers for odd series.
          const samples = raw.map((s) => ({ ...s, v: s.series % 2 === 1 ? Math.round(s.v) || 0 : s.v || 0 })); // no -0
          const period = every * hops;
          const offset = offsetSeed % every;
          const notices: Notice[] = [];
          const out: SeqReading[] = [];
          const input = new Subject<SeqReading>();
          input
            .pipe(
              aggregateWindows(
                { every, period, offset, allowed_lateness: lateness, aggregates: AGGS },
                { scheduler: new StreamClock(0), onNotice: (n) => notices.push(n) },
              ),
            )
            .subscribe((p) => out.push(p));
          samples.forEach((s, seq) => {
            const v: FieldValue = s.series % 2 === 1 ? BigInt(s.v) : s.v;
            input.next(rd({ t: s.t, f: { v }, seq, tags: { s: String(s.series) } }));
          });
          input.complete();

          const ref = reference(samples, every, period, offset, lateness);
          expect(notices.length).toBe(ref.late);
          expect(out.length).toBe(ref.points.size);
          for (const p of out) {
            const key = `${p.reading.tags.s}@${Number(p.reading.time / 1_000_000n)}`;
            const want = ref.points.get(key);
            expect(want, key).toBeDefined();
            const w = want as Record<string, number>;
            const f = p.reading.fields;
            const num = (x: FieldValue | undefined) => Number(x);
            expect(p.seq).toBe(w.seq);
            expect(f.v_count).toBe(BigInt(w.count as number));
            for (const k of ['sum', 'min', 'max', 'first', 'last'] as const) expect(num(f[`v_${k}`]), k).toBe(w[k]);
            for (const k of ['mean', 'p50', 'p90'] as const) expect(close(num(f[`v_${k}`]), w[k] as number), k).toBe(true);
            if (w.stddev === undefined) expect(f.v_stddev).toBeUndefined();
            else expect(close(num(f.v_stddev), w.stddev), 'stddev').toBe(true);
            if (p.reading.tags.s === '1' || p.reading.tags.s === '3') expect(typeof f.v_sum).toBe('bigint');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('window: timestamps', () => {
  it('handles event times before the epoch on the same grid', () => {
    const out: SeqReading[] = [];
    const input = new Subject<SeqReading>();
    input.pipe(aggregateWindows({ every: MIN }, { scheduler: new StreamClock(0) })).subscribe((p) => out.push(p));
    input.next(rd({ t: -1, f: { v: 1 } }));
    input.complete();
    expect(out[0]?.reading.time).toBe(ns(-MIN));
  });
});

describe('window: a series that went idle and comes back (gone series)', () => {
  const DAY = 86_400_000;
  function harness(options: WindowOptions) {
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const notices: string[] = [];
    const ctx = { scheduler: clock, onNotice: (n: Notice) => notices.push(`${n.reason} ${n.outcome} ${n.series} ${n.reading.seq}`) };
    const sub = input.pipe(aggregateWindows(options, ctx)).subscribe((t) => out.push(t));
    /** Moves the clock to `at`, then feeds the reading (as a drain does). */
    const feed = (at: number, spec: Parameters<typeof rd>[0]) => {
      clock.advanceTo(at);
      input.next(rd(spec));
    };
    return { clock, input, out, notices, sub, feed };
  }

  it('a reading for a window written as its series went idle is late, not a second point (tumbling)', () => {
    const h = harness({ every: MIN, aggregates: ['mean', 'count'] }); // idle 60 s
    h.feed(0, { t: 0, f: { v: 1 }, seq: 1 });
    h.feed(1000, { t: 1000, f: { v: 3 }, seq: 2 });
    h.clock.advanceTo(61_000); // idle: [0, 60 s) written whole
    expect(h.out).toEqual([point(0, { v_mean: 2, v_count: 2n }, 1)]);
    h.feed(200_000, { t: 30_000, f: { v: 99 }, seq: 3 }); // buffered while offline
    h.feed(200_010, { t: 59_999, f: { v: 99 }, seq: 4 });
    expect(h.notices).toEqual(['late dropped climate,device=d1 3', 'late dropped climate,device=d1 4']);
    h.feed(200_020, { t: 60_000, f: { v: 5 }, seq: 5 }); // the next window: taken
    h.input.complete();
    expect(h.out).toEqual([point(0, { v_mean: 2, v_count: 2n }, 1), point(MIN, { v_mean: 5, v_count: 1n }, 5)]);
  });

  it('on idle every open window is written, so a reading back is late up to the window of the newest reading (hopping, late: raw)', () => {
    // 2-min windows every minute, lateness 30 s: windows [-60 s, 60 s) and [0, 120 s) hold t = 10 s.
    const h = harness({ every: MIN, period: 2 * MIN, allowed_lateness: 30_000, aggregates: ['count'], late: 'raw' });
    h.feed(0, { t: 10_000, f: { v: 1 }, seq: 1 });
    h.clock.advanceTo(1_000_000); // idle (150 s): both written
    expect(h.out.map((p) => p.reading.time)).toEqual([ns(-MIN), ns(0)]);
    // 50 s is in [0, 120 s), written: late although within the lateness of the newest reading.
    const back = rd({ t: 50_000, f: { v: 2 }, seq: 2 });
    h.feed(1_000_000, { t: 50_000, f: { v: 2 }, seq: 2 });
    expect(h.notices).toEqual(['late raw climate,device=d1 2']);
    expect(h.out.at(-1)).toEqual(back);
    // 70 s: [0, 120 s) is written, [60 s, 180 s) is new: only that one takes it.
    h.feed(1_000_010, { t: 70_000, f: { v: 3 }, seq: 3 });
    h.input.complete();
    expect(h.out.slice(3)).toEqual([point(MIN, { v_count: 1n }, 3)]);
  });

  it('a device whose clock jumped back while gone is late until the memory of it ends (a day after idle), counted', () => {
    const h = harness({ every: MIN, aggregates: ['count'] });
    const T = 1_700_000_040_000; // on the minute grid
    h.feed(0, { t: T, f: { v: 1 }, seq: 1 });
    h.clock.advanceTo(MIN); // idle: written
    // Back with its RTC reset to the epoch: every reading is late, and it stays gone.
    h.feed(2 * MIN, { t: 0, f: { v: 2 }, seq: 2 });
    h.feed(MIN + DAY - 1, { t: 1000, f: { v: 3 }, seq: 3 });
    expect(h.notices).toEqual(['late dropped climate,device=d1 2', 'late dropped climate,device=d1 3']);
    // A day after it went idle (its last reading + idle + a day) it is forgotten: taken as new.
    h.feed(MIN + DAY, { t: 2000, f: { v: 4 }, seq: 4 });
    h.input.complete();
    expect(h.notices).toHaveLength(2);
    expect(h.out).toEqual([point(T, { v_count: 1n }, 1), point(0, { v_count: 1n }, 4)]);
  });

  it('remembers a gone series for 7 periods when that is longer than a day (daily windows)', () => {
    const h = harness({ every: DAY, aggregates: ['count'] }); // idle: a day
    h.feed(0, { t: 1000, f: { v: 1 }, seq: 1 });
    h.clock.advanceTo(DAY); // idle: written
    h.feed(DAY + 2 * DAY, { t: 2000, f: { v: 2 }, seq: 2 }); // a day after it went quiet: still late
    h.feed(DAY + 7 * DAY, { t: 3000, f: { v: 3 }, seq: 3 }); // 7 days after: forgotten, taken
    h.input.complete();
    expect(h.notices).toEqual(['late dropped climate,device=d1 2']);
    expect(h.out.map((p) => p.seq)).toEqual([1, 3]);
  });

  it('remembers at most max_series gone series: past it the oldest is forgotten early, with a memory_limit notice', () => {
    const h = harness({ every: MIN, aggregates: ['count'], max_series: 2 });
    for (const [i, device] of ['a', 'b', 'c'].entries()) h.feed(i * 1000, { t: 0, f: { v: 1 }, seq: i + 1, tags: { device } });
    expect(h.notices).toEqual(['series_limit dropped climate,device=c 3']); // 2 active at most
    h.clock.advanceTo(2 * MIN); // a and b gone
    h.feed(2 * MIN, { t: 0, f: { v: 1 }, seq: 4, tags: { device: 'c' } }); // c: new
    h.clock.advanceTo(4 * MIN); // c gone too: a, the oldest, forgotten early
    expect(h.notices.slice(1)).toEqual(['memory_limit forgotten climate,device=a -1']);
    h.feed(4 * MIN, { t: 1000, f: { v: 1 }, seq: 5, tags: { device: 'b' } }); // remembered: late
    h.feed(4 * MIN, { t: 1000, f: { v: 1 }, seq: 6, tags: { device: 'a' } }); // forgotten: its window again
    h.input.complete();
    expect(h.notices.slice(2)).toEqual(['late dropped climate,device=b 5']);
    expect(h.out.filter((p) => p.reading.tags.device === 'a').length).toBe(2);
  });
});
