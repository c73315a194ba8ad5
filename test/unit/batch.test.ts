import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { batch } from '../../src/pipeline/batch.js';

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('batch', () => {
  it('emits when maxCount items have arrived', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('abcde|');
      expectObservable(src.pipe(batch(1000, 2))).toBe('-x-y-(z|)', { x: ['a', 'b'], y: ['c', 'd'], z: ['e'] });
    });
  });

  it('emits maxWaitMs after the first item of a batch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a 3ms b 200ms c 1s |');
      // a at 0, b at 4 → flushed at 100; c at 205 → flushed at 305; complete at 1206
      expectObservable(src.pipe(batch(100, 10))).toBe('100ms x 204ms y 900ms |', { x: ['a', 'b'], y: ['c'] });
    });
  });

  it('never emits an empty batch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('1s |').pipe(batch(100, 10))).toBe('1s |');
    });
  });

  it('completes at once on an empty source', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('|').pipe(batch(100, 10))).toBe('|');
    });
  });

  it('never completes and never emits on a never source', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-').pipe(batch(100, 10))).toBe('-');
    });
  });

  it('flushes the partial batch on complete', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab|').pipe(batch(100, 10))).toBe('--(x|)', { x: ['a', 'b'] });
    });
  });

  it('flushes the partial batch before forwarding an error', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab#').pipe(batch(100, 10))).toBe('--(x#)', { x: ['a', 'b'] });
    });
  });

  it('frees its timer on early unsubscribe', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions, flush }) => {
      const src = cold('a 500ms b |');
      expectObservable(src.pipe(batch(100, 10)), '^ 50ms !').toBe('');
      expectSubscriptions(src.subscriptions).toBe('^ 50ms !');
      flush();
    });
  });

  it('starts a new age timer for each batch', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const src = hot('a 99ms b 50ms c 200ms |');
      // a at 0, b at 100 (delivered before the timer due at 100) → [a, b] at 100;
      // c at 151 opens a new batch → [c] at 251; complete at 352
      expectObservable(src.pipe(batch(100, 10))).toBe('100ms x 150ms y 100ms |', { x: ['a', 'b'], y: ['c'] });
    });
  });

  it('rejects nonsense sizes at construction', () => {
    expect(() => batch(100, 0)).toThrow(RangeError);
    expect(() => batch(-1, 10)).toThrow(RangeError);
  });
});
