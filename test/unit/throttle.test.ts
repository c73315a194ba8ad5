import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { roundedMean } from '../../src/pipeline/aggregate.js';
import { Holdback, type SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { throttleSeries } from '../../src/pipeline/throttle.js';
import { point, rd, testScheduler } from '../helpers/pipeline.js';

const MIN = 60_000;

describe('throttle: marbles', () => {
  it('keeps the last reading of each interval, emitted when the next interval starts', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 }, seq: 1 });
      const b = rd({ t: 10_000, f: { v: 2 }, seq: 2 });
      const c = rd({ t: 70_000, f: { v: 3 }, seq: 3 });
      expectObservable(cold('abc|', { a, b, c }).pipe(throttleSeries({ interval: MIN }))).toBe('--b(c|)', { b, c });
    });
  });

  it('keeps the mean, stamped at the interval start, integers rounded and other fields last', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 5000, f: { v: 1, n: 2n, s: 'a' }, seq: 1 });
      const b = rd({ t: 10_000, f: { v: 3, n: 5n, s: 'b' }, seq: 2 });
      expectObservable(cold('ab|', { a, b }).pipe(throttleSeries({ interval: MIN, keep: 'mean' }))).toBe('--(x|)', {
        x: point(0, { v: 2, n: 4n, s: 'b' }, 1),
      });
    });
  });

  it('emits after idle scheduler time without a reading', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 } });
      expectObservable(cold('a', { a }).pipe(throttleSeries({ interval: 1000 }))).toBe('1s a', { a });
      expectObservable(cold('a', { a }).pipe(throttleSeries({ interval: MIN, idle: 5 }))).toBe('5ms a', { a });
    });
  });

  it('drops a reading for an interval older than the current one, with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 70_000, f: { v: 1 }, seq: 1 });
      const b = rd({ t: 10_000, f: { v: 2 }, seq: 2 });
      expectObservable(cold('ab|', { a, b }).pipe(throttleSeries({ interval: MIN }, { onNotice: (n) => notices.push(n) }))).toBe('--(a|)', { a });
    });
    expect(notices.map((n) => `${n.op} ${n.reason} ${n.outcome} ${n.reading.seq}`)).toEqual(['throttle late dropped 2']);
  });

  it('completes at once on an empty source, never emits on a never source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<SeqReading>('|').pipe(throttleSeries({ interval: MIN }))).toBe('|');
      expectObservable(cold<SeqReading>('-').pipe(throttleSeries({ interval: MIN }))).toBe('-');
    });
  });

  it('flushes the open interval on complete and before an error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 } });
      expectObservable(cold('a|', { a }).pipe(throttleSeries({ interval: MIN }))).toBe('-(a|)', { a });
      expectObservable(cold('a#', { a }).pipe(throttleSeries({ interval: MIN, keep: 'mean' }))).toBe('-(x#)', { x: point(0, { v: 1 }, 0) });
    });
  });

  it('emits nothing after an early unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = rd({ t: 0, f: { v: 1 } });
      const src = cold('a 200ms |', { a });
      expectObservable(src.pipe(throttleSeries({ interval: 100 })), '^ 50ms !').toBe('');
      expectSubscriptions(src.subscriptions).toBe('^ 50ms !');
    });
  });

  it('drops a new series beyond max_series with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: rd({ t: 0, f: { v: 1 }, tags: { d: '1' } }), b: rd({ t: 0, f: { v: 1 }, tags: { d: '2' } }) };
      expectObservable(cold('ab|', v).pipe(throttleSeries({ interval: MIN, max_series: 1 }, { onNotice: (n) => notices.push(n) }))).toBe('--(a|)', v);
    });
    expect(notices.map((n) => `${n.reason} ${n.series}`)).toEqual(['series_limit climate,d=2']);
  });
});

describe('throttle: seqs', () => {
  function harness(keep: 'last' | 'mean') {
    const holdback = new Holdback();
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const sub = input.pipe(throttleSeries({ interval: MIN, keep }, { holdback, scheduler: clock })).subscribe((t) => out.push(t));
    return { holdback, clock, input, out, sub };
  }

  it('last: holds the seq of the kept reading only', () => {
    const h = harness('last');
    h.input.next(rd({ t: 0, f: { v: 1 }, seq: 1 }));
    h.input.next(rd({ t: 1000, f: { v: 2 }, seq: 2 }));
    expect(h.holdback.lowestHeld()).toBe(2);
    h.input.next(rd({ t: MIN, f: { v: 3 }, seq: 3 }));
    expect(h.out.map((t) => t.seq)).toEqual([2]);
    expect(h.holdback.commitBound(4)).toBe(3);
    h.sub.unsubscribe();
    expect(h.clock.pending).toBe(0);
  });

  it('mean: holds the lowest seq and records the interval as an aggregated range', () => {
    const h = harness('mean');
    h.input.next(rd({ t: 0, f: { v: 1 }, seq: 1 }));
    h.input.next(rd({ t: 1000, f: { v: 2 }, seq: 2, tags: { device: 'other' } }));
    h.input.next(rd({ t: 2000, f: { v: 3 }, seq: 3 }));
    expect(h.holdback.lowestHeld()).toBe(1);
    h.input.next(rd({ t: MIN, f: { v: 5 }, seq: 4 })); // closes d1's first interval: seqs 1..3
    expect(h.out).toEqual([point(0, { v: 2 }, 1)]);
    // the other series holds 2, but 2 lies inside the written mean (1, 3]: not a safe cursor
    expect(h.holdback.commitBound(5)).toBe(1);
    h.input.complete(); // partial means keep their holds
    expect(h.holdback.lowestHeld()).toBe(2);
  });
});

describe('roundedMean', () => {
  it('rounds half away from zero', () => {
    expect(roundedMean(7n, 2)).toBe(4n);
    expect(roundedMean(-7n, 2)).toBe(-4n);
    expect(roundedMean(10n, 3)).toBe(3n);
    expect(roundedMean(-10n, 3)).toBe(-3n);
    expect(roundedMean(11n, 3)).toBe(4n);
  });
});

describe('throttle: a series that went idle and comes back', () => {
  for (const keep of ['last', 'mean'] as const) {
    it(`${keep}: a reading for the bucket emitted as its series went idle (or an older one) is late, not a second point`, () => {
      const clock = new StreamClock(0);
      const input = new Subject<SeqReading>();
      const out: SeqReading[] = [];
      const notices: string[] = [];
      input
        .pipe(throttleSeries({ interval: MIN, keep }, { scheduler: clock, onNotice: (n) => notices.push(`${n.reason} ${n.outcome} ${n.reading.seq}`) }))
        .subscribe((t) => out.push(t));
      input.next(rd({ t: 70_000, f: { v: 1 }, seq: 1 }));
      input.next(rd({ t: 80_000, f: { v: 3 }, seq: 2 }));
      clock.advanceTo(MIN); // idle: the bucket [60 s, 120 s) is emitted
      expect(out).toHaveLength(1);
      clock.advanceTo(10 * MIN);
      input.next(rd({ t: 90_000, f: { v: 99 }, seq: 3 })); // buffered while offline
      input.next(rd({ t: 1_000, f: { v: 99 }, seq: 4 }));
      input.next(rd({ t: 2 * MIN, f: { v: 5 }, seq: 5 })); // the next bucket: taken
      input.complete();
      expect(notices).toEqual(['late dropped 3', 'late dropped 4']);
      expect(out).toEqual(
        keep === 'last'
          ? [rd({ t: 80_000, f: { v: 3 }, seq: 2 }), rd({ t: 2 * MIN, f: { v: 5 }, seq: 5 })]
          : [point(MIN, { v: 2 }, 1), point(2 * MIN, { v: 5 }, 5)],
      );
    });
  }
});
