import fc from 'fast-check';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { deadband } from '../../src/pipeline/deadband.js';
import type { SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { rd, testScheduler } from '../helpers/pipeline.js';

const MIN = 60_000;
const temp = (t: number, v: number, seq = 0) => rd({ t, f: { temperature: v }, seq });

describe('deadband: marbles', () => {
  it('emits when the change since the last EMITTED value exceeds abs', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: temp(0, 20), b: temp(1, 20.1), c: temp(2, 20.3), d: temp(3, 20.35), e: temp(4, 20.15), f: temp(5, 20.0) };
      // b: 0.1 from 20; c: 0.3 from 20 → out; d: 0.05 from 20.3; e: 0.15 from 20.3; f: 0.3 from 20.3 → out
      expectObservable(cold('abcdef|', v).pipe(deadband({ abs: 0.2 }))).toBe('a-c--f|', v);
    });
  });

  it('emits when the change exceeds pct percent of the last emitted value', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: temp(0, 100), b: temp(1, 109), c: temp(2, 111), d: temp(3, 100.5), e: temp(4, 99.8) };
      // c: 11 > 10 % of 100; d: 10.5 < 11.1; e: 11.2 > 11.1
      expectObservable(cold('abcde|', v).pipe(deadband({ pct: 10 }))).toBe('a-c-e|', v);
    });
  });

  it('writes an unchanged value again at the heartbeat (event time)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v: Record<string, SeqReading> = {};
      for (let i = 0; i <= 9; i++) v[String(i)] = temp(i * MIN, 20);
      // heartbeat 5 min: minutes 0 and 5 are written, the others are suppressed
      expectObservable(cold('0123456789|', v).pipe(deadband({ abs: 0.5, heartbeat: 5 * MIN }))).toBe('0----5----|', v);
    });
  });

  it('works per field: unwatched fields pass, unchanged watched fields are removed', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { temperature: 20, humidity: 40 } });
      const b = rd({ t: 1, f: { temperature: 20.1, humidity: 41 } });
      const c = rd({ t: 2, f: { temperature: 20.1 } });
      const d = rd({ t: 3, f: { temperature: 21, humidity: 42 } });
      expectObservable(cold('abcd|', { a, b, c, d }).pipe(deadband({ fields: ['temperature'], abs: 0.5 }))).toBe('ab-d|', {
        a,
        b: rd({ t: 1, f: { humidity: 41 } }),
        d,
      });
    });
  });

  it('compares integers exactly and other types by equality', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = {
        a: rd({ t: 0, f: { n: 10n, open: false } }),
        b: rd({ t: 1, f: { n: 11n, open: false } }),
        c: rd({ t: 2, f: { n: 12n, open: true } }),
      };
      expectObservable(cold('abc|', v).pipe(deadband({ abs: 1 }))).toBe('a-c|', v);
    });
  });

  it('keeps series apart', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = {
        a: rd({ t: 0, f: { v: 1 }, tags: { d: '1' } }),
        b: rd({ t: 0, f: { v: 1 }, tags: { d: '2' } }),
        c: rd({ t: 1, f: { v: 1 }, tags: { d: '1' } }),
      };
      expectObservable(cold('abc|', v).pipe(deadband({ abs: 0 }))).toBe('ab-|', v);
    });
  });

  it('completes at once on an empty source, never emits on a never source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<SeqReading>('|').pipe(deadband({ abs: 1 }))).toBe('|');
      expectObservable(cold<SeqReading>('-').pipe(deadband({ abs: 1 }))).toBe('-');
    });
  });

  it('forwards complete and error at once (nothing is pending)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = temp(0, 1);
      expectObservable(cold('a|', { a }).pipe(deadband({ abs: 1 }))).toBe('a|', { a });
      expectObservable(cold('a#', { a }).pipe(deadband({ abs: 1 }))).toBe('a#', { a });
    });
  });

  it('unsubscribes from the source on early unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = temp(0, 1);
      const b = temp(1, 5);
      const src = cold('a 10ms b|', { a, b });
      expectObservable(src.pipe(deadband({ abs: 1 })), '^ 5ms !').toBe('a', { a });
      expectSubscriptions(src.subscriptions).toBe('^ 5ms !');
    });
  });

  it('forgets an idle series (the next value is written as new) and frees its timer on unsubscribe', () => {
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const sub = input.pipe(deadband({ abs: 1, idle: 1000 }, { scheduler: clock })).subscribe((t) => out.push(t));
    input.next(temp(0, 1));
    input.next(temp(1, 1));
    clock.advanceTo(1000);
    input.next(temp(2, 1));
    expect(out.length).toBe(2);
    expect(clock.pending).toBe(1);
    sub.unsubscribe();
    expect(clock.pending).toBe(0);
  });

  it('drops a new series beyond max_series with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: rd({ t: 0, f: { v: 1 }, tags: { d: '1' } }), b: rd({ t: 0, f: { v: 1 }, tags: { d: '2' } }) };
      expectObservable(cold('ab|', v).pipe(deadband({ abs: 0, max_series: 1 }, { onNotice: (n) => notices.push(n) }))).toBe('a-|', v);
    });
    expect(notices.map((n) => `${n.op} ${n.reason} ${n.series}`)).toEqual(['deadband series_limit climate,d=2']);
  });

  it('rejects nonsense options at construction', () => {
    expect(() => deadband({ abs: -1 })).toThrow(RangeError);
    expect(() => deadband({ pct: Number.NaN })).toThrow(RangeError);
    expect(() => deadband({ abs: 1, heartbeat: 0 })).toThrow(RangeError);
  });
});

describe('deadband: property', () => {
  it('never lets two consecutive written values differ by the threshold or less, unless at the heartbeat', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 120_000 }), v: fc.double({ min: -100, max: 100, noNaN: true }) }), { maxLength: 200, size: 'max' }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.option(fc.integer({ min: 1000, max: 600_000 }), { nil: undefined }),
        (steps, abs, heartbeat) => {
          const out: SeqReading[] = [];
          const input = new Subject<SeqReading>();
          input.pipe(deadband({ abs, heartbeat }, { scheduler: new StreamClock(0) })).subscribe((t) => out.push(t));
          let t = 0;
          const sent = steps.map((s, seq) => {
            t += s.dt;
            const r = temp(t, s.v, seq);
            input.next(r);
            return r;
          });
          input.complete();
          // The invariant.
          for (let i = 1; i < out.length; i++) {
            const prev = out[i - 1]?.reading as SeqReading['reading'];
            const cur = out[i]?.reading as SeqReading['reading'];
            const moved = Math.abs((cur.fields.temperature as number) - (prev.fields.temperature as number)) > abs;
            const beat = heartbeat !== undefined && cur.time - prev.time >= BigInt(heartbeat) * 1_000_000n;
            expect(moved || beat).toBe(true);
          }
          // And nothing more is suppressed than that: the obvious reference.
          const want: number[] = [];
          let last: { v: number; t: bigint } | undefined;
          for (const r of sent) {
            const v = r.reading.fields.temperature as number;
            const due = heartbeat !== undefined && last !== undefined && r.reading.time - last.t >= BigInt(heartbeat) * 1_000_000n;
            if (last === undefined || Math.abs(v - last.v) > abs || due) {
              want.push(r.seq);
              last = { v, t: r.reading.time };
            }
          }
          expect(out.map((o) => o.seq)).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });
});
