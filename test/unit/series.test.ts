import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SeqReading } from '../../src/pipeline/holdback.js';
import { limitSeries } from '../../src/pipeline/series-limit.js';
import { describeSeries, SeriesTable, seriesKey, type Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import type { Reading } from '../../src/types.js';
import { rd, testScheduler } from '../helpers/pipeline.js';

const reading = (measurement: string, tags: Record<string, string>): Reading => ({ measurement, tags, fields: { v: 1 }, time: 0n });

describe('seriesKey', () => {
  it('is the same whatever the tag order, and differs by measurement, tag key or value', () => {
    const k = seriesKey(reading('climate', { location: 'kitchen', device: 'th1' }));
    expect(seriesKey(reading('climate', { device: 'th1', location: 'kitchen' }))).toBe(k);
    const others = [
      reading('climate2', { device: 'th1', location: 'kitchen' }),
      reading('climate', { device: 'th2', location: 'kitchen' }),
      reading('climate', { device: 'th1', place: 'kitchen' }),
      reading('climate', { device: 'th1' }),
      reading('climate', { device: 'th1location', '': 'kitchen' }),
    ];
    expect(new Set([k, ...others.map(seriesKey)]).size).toBe(others.length + 1);
  });

  it('describes a series for people with sorted tags', () => {
    expect(describeSeries(reading('climate', { location: 'kitchen', device: 'th1' }))).toBe('climate,device=th1,location=kitchen');
  });
});

describe('SeriesTable', () => {
  function table(idleMs: number, maxSeries = 10) {
    const clock = new StreamClock(0);
    const idle: string[] = [];
    const t = new SeriesTable<string>({ idleMs, maxSeries, scheduler: clock, onIdle: (s) => idle.push(s) });
    return { clock, idle, t };
  }

  it('forgets series idle for idleMs, oldest first, and keeps those seen since', () => {
    const { clock, idle, t } = table(100);
    t.add('a', 'A');
    clock.advanceTo(10);
    t.add('b', 'B');
    clock.advanceTo(50);
    expect(t.get('a')).toBe('A'); // seen again at 50
    clock.advanceTo(109);
    expect(idle).toEqual([]);
    clock.advanceTo(110);
    expect(idle).toEqual(['B']);
    clock.advanceTo(150);
    expect(idle).toEqual(['B', 'A']);
    expect(t.size).toBe(0);
    expect(clock.pending).toBe(0); // no timer while empty
  });

  it('refuses series beyond maxSeries and counts each refused reading', () => {
    const { t } = table(100, 2);
    expect(t.add('a', 'A')).toBe(true);
    expect(t.add('b', 'B')).toBe(true);
    expect(t.add('c', 'C')).toBe(false);
    expect(t.add('c', 'C')).toBe(false);
    expect(t.rejected).toBe(2);
    t.delete('a');
    expect(t.add('c', 'C')).toBe(true);
  });

  it('drain hands every state over and stops the timer; dispose drops them', () => {
    const { clock, t } = table(100);
    t.add('a', 'A');
    t.add('b', 'B');
    const seen: string[] = [];
    t.drain((s) => seen.push(s));
    expect(seen).toEqual(['A', 'B']);
    expect(clock.pending).toBe(0);
    t.add('c', 'C');
    expect(clock.pending).toBe(1);
    t.dispose();
    expect(clock.pending).toBe(0);
    expect(t.size).toBe(0);
  });

  it('never arms a timer with an infinite idle time', () => {
    const { clock, t } = table(Infinity);
    t.add('a', 'A');
    expect(clock.pending).toBe(0);
  });

  it('forgets exactly the series idle for idleMs, whatever the order of readings and time steps', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.integer({ min: 0, max: 60 }), key: fc.integer({ min: 0, max: 9 }) }), { maxLength: 300, size: 'max' }), (ops) => {
        const idleMs = 100;
        const { clock, idle, t } = table(idleMs);
        const last = new Map<string, number>(); // the model: live series → last reading
        const gone: string[] = [];
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          clock.advanceTo(now);
          for (const [k, at] of last) {
            if (at + idleMs <= now) {
              last.delete(k);
              gone.push(k);
            }
          }
          expect([...idle].sort()).toEqual([...gone].sort());
          expect(t.size).toBe(last.size);
          const key = String(op.key);
          if (t.get(key) === undefined) expect(t.add(key, key)).toBe(true);
          last.set(key, now);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rejects nonsense options', () => {
    const clock = new StreamClock(0);
    expect(() => new SeriesTable({ idleMs: 0, maxSeries: 1, scheduler: clock, onIdle: () => {} })).toThrow(RangeError);
    expect(() => new SeriesTable({ idleMs: 1, maxSeries: 0, scheduler: clock, onIdle: () => {} })).toThrow(RangeError);
  });
});

describe('limitSeries (cardinality guard)', () => {
  it('passes known series, drops new ones beyond the cap with a notice naming them, frees a place when idle', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 }, tags: { device: 'a' } });
      const b = rd({ t: 0, f: { v: 1 }, tags: { device: 'b', counter: '17' } });
      // a at 0; b at 1 refused; a at 2 passes; a idle from 2 → forgotten at 102; b at 200 passes
      const src = cold('aba 197ms b|', { a, b });
      expectObservable(src.pipe(limitSeries({ max_series: 1, idle: 100 }, { onNotice: (n) => notices.push(n) }))).toBe('a-a 197ms b|', { a, b });
    });
    expect(notices.map((n) => [n.op, n.reason, n.outcome, n.series])).toEqual([['series_limit', 'series_limit', 'dropped', 'climate,counter=17,device=b']]);
  });

  it('completes, errors and never-emits like its source', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = rd({ t: 0, f: { v: 1 } });
      expectObservable(cold<SeqReading>('|').pipe(limitSeries({ max_series: 1 }))).toBe('|');
      expectObservable(cold<SeqReading>('-').pipe(limitSeries({ max_series: 1 }))).toBe('-');
      expectObservable(cold('a#', { a }).pipe(limitSeries({ max_series: 1 }))).toBe('a#', { a });
      const src = cold('a 10ms a|', { a });
      expectObservable(src.pipe(limitSeries({ max_series: 1 })), '^ 5ms !').toBe('a', { a });
      expectSubscriptions(src.subscriptions).toBe('^ 5ms !');
    });
  });

  it('rejects a nonsense cap', () => {
    expect(() => limitSeries({ max_series: 0 })).toThrow(RangeError);
  });
});
