import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { dedupe } from '../../src/pipeline/dedupe.js';
import type { SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import { rd, testScheduler } from '../helpers/pipeline.js';

const MIN = 60_000;

describe('dedupe: marbles', () => {
  it('suppresses identical consecutive values of a series', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = {
        a: rd({ t: 0, f: { state: 'on', level: 3n } }),
        b: rd({ t: 1, f: { state: 'on', level: 3n } }),
        c: rd({ t: 2, f: { state: 'off', level: 3n } }),
        d: rd({ t: 3, f: { state: 'on', level: 3n } }),
        e: rd({ t: 4, f: { state: 'on', level: 3n, extra: true } }), // one field more: different
      };
      expectObservable(cold('abcde|', v).pipe(dedupe())).toBe('a-cde|', v);
    });
  });

  it('compares only the listed fields when given', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = {
        a: rd({ t: 0, f: { state: 'on', rssi: -60 } }),
        b: rd({ t: 1, f: { state: 'on', rssi: -61 } }),
        c: rd({ t: 2, f: { state: 'off', rssi: -61 } }),
      };
      expectObservable(cold('abc|', v).pipe(dedupe({ fields: ['state'] }))).toBe('a-c|', v);
    });
  });

  it('writes an identical value again at the heartbeat (event time)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v: Record<string, SeqReading> = {};
      for (let i = 0; i <= 6; i++) v[String(i)] = rd({ t: i * MIN, f: { state: 'on' } });
      expectObservable(cold('0123456|', v).pipe(dedupe({ heartbeat: 3 * MIN }))).toBe('0--3--6|', v);
    });
  });

  it('keeps series apart', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = {
        a: rd({ t: 0, f: { s: 1 }, tags: { d: '1' } }),
        b: rd({ t: 0, f: { s: 1 }, tags: { d: '2' } }),
        c: rd({ t: 1, f: { s: 1 }, tags: { d: '2' } }),
      };
      expectObservable(cold('abc|', v).pipe(dedupe())).toBe('ab-|', v);
    });
  });

  it('completes at once on an empty source, never emits on a never source, forwards errors', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { s: 1 } });
      expectObservable(cold<SeqReading>('|').pipe(dedupe())).toBe('|');
      expectObservable(cold<SeqReading>('-').pipe(dedupe())).toBe('-');
      expectObservable(cold('aa#', { a }).pipe(dedupe())).toBe('a-#', { a });
    });
  });

  it('unsubscribes from the source on early unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = rd({ t: 0, f: { s: 1 } });
      const src = cold('a 10ms a|', { a });
      expectObservable(src.pipe(dedupe()), '^ 5ms !').toBe('a', { a });
      expectSubscriptions(src.subscriptions).toBe('^ 5ms !');
    });
  });

  it('forgets an idle series and frees its timer on unsubscribe', () => {
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const out: SeqReading[] = [];
    const sub = input.pipe(dedupe({ idle: 500 }, { scheduler: clock })).subscribe((t) => out.push(t));
    input.next(rd({ t: 0, f: { s: 1 } }));
    input.next(rd({ t: 1, f: { s: 1 } }));
    clock.advanceTo(500);
    input.next(rd({ t: 2, f: { s: 1 } }));
    expect(out.map((t) => t.reading.time)).toEqual([0n, 2_000_000n]);
    sub.unsubscribe();
    expect(clock.pending).toBe(0);
  });

  it('drops a new series beyond max_series with a notice', () => {
    const notices: Notice[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: rd({ t: 0, f: { s: 1 }, tags: { d: '1' } }), b: rd({ t: 0, f: { s: 1 }, tags: { d: '2' } }) };
      expectObservable(cold('ab|', v).pipe(dedupe({ max_series: 1 }, { onNotice: (n) => notices.push(n) }))).toBe('a-|', v);
    });
    expect(notices.map((n) => `${n.op} ${n.series}`)).toEqual(['dedupe climate,d=2']);
  });
});
