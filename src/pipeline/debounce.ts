import { Observable, type OperatorFunction } from '../util/rx.js';
import type { Hold, SeqReading } from './holdback.js';
import { notice, resolveContext, seriesKey, SeriesTable, type OperatorContext } from './series.js';

export interface DebounceOptions {
  /** Quiet period in ms: a series' last reading is emitted once this long passes without another. */
  readonly quiet: number;
  readonly max_series?: number;
}

interface Held {
  reading: SeqReading;
  hold: Hold;
}

/**
 * Emits the last reading of a burst, per series, unchanged (its own timestamp and seq),
 * once the series has been quiet for `quiet` ms: either a newer reading of the series is
 * at least `quiet` later in EVENT time (then the held one is emitted at once, and the newer
 * one held: replay-deterministic), or `quiet` ms of scheduler time pass without a reading
 * of the series. Readings in between are superseded (not emitted).
 *
 * The held reading's seq is held in the holdback until it is emitted or superseded.
 * On complete: every held reading is emitted, then completes. On error: the same, then the
 * error. On unsubscribe: held readings and the timer are dropped (their holds stay).
 */
export function debounceSeries(options: DebounceOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  if (!(options.quiet >= 1)) throw new RangeError(`debounce: quiet must be >= 1 ms, got ${options.quiet}`);
  const quietNs = BigInt(options.quiet) * 1_000_000n;
  return (source) =>
    new Observable<SeqReading>((out) => {
      const ctx = resolveContext(context);
      const { holdback } = ctx;
      const emit = (h: Held) => {
        out.next(h.reading);
        holdback.release(h.hold);
      };
      const table = new SeriesTable<Held>({ idleMs: options.quiet, maxSeries: options.max_series ?? ctx.maxSeries, scheduler: ctx.scheduler, onIdle: emit });
      const flush = () => table.drain(emit);
      const sub = source.subscribe({
        next(t) {
          const key = seriesKey(t.reading);
          const h = table.get(key);
          if (h === undefined) {
            const held = { reading: t, hold: holdback.hold(t.seq) };
            if (!table.add(key, held)) {
              holdback.release(held.hold);
              ctx.onNotice(notice('debounce', 'series_limit', 'dropped', t));
            }
            return;
          }
          const prev = h.reading;
          const old = h.hold;
          h.reading = t;
          h.hold = holdback.hold(t.seq);
          if (t.reading.time - prev.reading.time >= quietNs) out.next(prev);
          holdback.release(old);
        },
        error(e) {
          flush();
          out.error(e);
        },
        complete() {
          flush();
          out.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        table.dispose();
      };
    });
}
