import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { debounceSeries } from '../../src/pipeline/debounce.js';
import { Holdback, type SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { rd, testScheduler } from '../helpers/pipeline.js';

/** A door contact; event time = the marble frame it arrives at. */
const door = (t: number, open: boolean, seq = t, device = 'door1') => rd({ t, f: { open }, seq, m: 'door', tags: { device } });

describe('debounce: marbles', () => {
  it('emits the last reading of a burst once the series has been quiet (scheduler time)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = door(0, true);
      const b = door(10, false);
      const c = door(20, true);
      // c at 20, quiet 100 → emitted at 120
      expectObservable(cold('a 9ms b 9ms c', { a, b, c }).pipe(debounceSeries({ quiet: 100 }))).toBe('120ms c', { c });
    });
  });

  it('emits the held reading at once when the next one is later by the quiet period in event time', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      // Replayed from the journal: all at once, but the event times are far apart.
      const a = door(0, true, 1);
      const b = door(5000, false, 2);
      const c = door(5010, true, 3);
      expectObservable(cold('abc|', { a, b, c }).pipe(debounceSeries({ quiet: 100 }))).toBe('-a-(c|)', { a, c });
    });
  });

  it('debounces each series on its own', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = door(0, true, 1, 'd1');
      const b = door(1, true, 2, 'd2');
      const c = door(2, false, 3, 'd1');
      expectObservable(cold('abc', { a, b, c }).pipe(debounceSeries({ quiet: 50 }))).toBe('51ms b c', { b, c });
    });
  });

  it('completes at once on an empty source, never emits on a never source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<SeqReading>('|').pipe(debounceSeries({ quiet: 10 }))).toBe('|');
      expectObservable(cold<SeqReading>('-').pipe(debounceSeries({ quiet: 10 }))).toBe('-');
    });
  });

  it('flushes the held reading on complete, and before an error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = door(0, true);
      expectObservable(cold('a|', { a }).pipe(debounceSeries({ quiet: 100 }))).toBe('-(a|)', { a });
      expectObservable(cold('a#', { a }).pipe(debounceSeries({ quiet: 100 }))).toBe('-(a#)', { a });
    });
  });

  it('emits nothing after an early unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = door(0, true);
      const src = cold('a 200ms |', { a });
      expectObservable(src.pipe(debounceSeries({ quiet: 100 })), '^ 50ms !').toBe('');
      expectSubscriptions(src.subscriptions).toBe('^ 50ms !');
    });
  });

  it('drops a new series beyond max_series with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const a = door(0, true, 1, 'd1');
      const b = door(0, true, 2, 'd2');
      expectObservable(cold('ab|', { a, b }).pipe(debounceSeries({ quiet: 10, max_series: 1 }, { onNotice: (n) => notices.push(n) }))).toBe('--(a|)', { a });
    });
    expect(notices.map((n) => `${n.reason} ${n.series}`)).toEqual(['series_limit door,device=d2']);
  });
});

describe('debounce: seqs', () => {
  it('holds only the seq of the reading it keeps; frees its timer on unsubscribe', () => {
    const holdback = new Holdback();
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const sub = input.pipe(debounceSeries({ quiet: 100 }, { holdback, scheduler: clock })).subscribe((t) => out.push(t));
    input.next(door(0, true, 1));
    input.next(door(10, false, 2));
    expect(holdback.lowestHeld()).toBe(2); // seq 1 was superseded: a replay from 2 gives the same point
    expect(holdback.held).toBe(1);
    clock.advanceTo(100);
    expect(out.map((t) => t.seq)).toEqual([2]);
    expect(holdback.lowestHeld()).toBeUndefined();
    input.next(door(500, true, 3));
    expect(clock.pending).toBe(1);
    sub.unsubscribe();
    expect(clock.pending).toBe(0);
    expect(holdback.lowestHeld()).toBe(3);
  });

  it('rejects a nonsense quiet period', () => {
    expect(() => debounceSeries({ quiet: 0 })).toThrow(RangeError);
  });
});
