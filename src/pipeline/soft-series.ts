/**
 * The frame shared by the operators whose per-series state is soft (it holds no seq and
 * has nothing to flush): deadband, dedupe and series_limit. Each keeps one state per
 * series in a `SeriesTable`; a reading of a new series the table has no room for is
 * dropped and reported (`series_limit`). On complete/error: forwarded at once. On
 * unsubscribe: state and timer are dropped.
 */
import { Observable, type OperatorFunction } from '../util/rx.js';
import type { SeqReading } from './holdback.js';
import { notice, resolveContext, seriesKey, SeriesTable, type OperatorContext, type OperatorName } from './series.js';

export interface SoftSeriesFrame<S> {
  readonly op: OperatorName;
  /** Forget a series after this much scheduler time without a reading. */
  readonly idleMs: number;
  /** Series allowed at once; default the context's `maxSeries`. */
  readonly maxSeries?: number;
  /** The state of a series first seen with reading `t`. */
  readonly init: (t: SeqReading) => S;
  /** What goes on for `t` (undefined: nothing), given its series' state; `fresh` on the series' first reading. */
  readonly step: (t: SeqReading, state: S, fresh: boolean) => SeqReading | undefined;
}

export function softSeriesOperator<S>(frame: SoftSeriesFrame<S>, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  return (source) =>
    new Observable<SeqReading>((out) => {
      const ctx = resolveContext(context);
      const table = new SeriesTable<S>({
        idleMs: frame.idleMs,
        maxSeries: frame.maxSeries ?? ctx.maxSeries,
        scheduler: ctx.scheduler,
        onIdle: () => {},
      });
      const sub = source.subscribe({
        next(t) {
          const key = seriesKey(t.reading);
          let state = table.get(key);
          const fresh = state === undefined;
          if (state === undefined) {
            state = frame.init(t);
            if (!table.add(key, state)) {
              ctx.onNotice(notice(frame.op, 'series_limit', 'dropped', t));
              return;
            }
          }
          const passed = frame.step(t, state, fresh);
          if (passed !== undefined) out.next(passed);
        },
        error: (e) => out.error(e),
        complete: () => out.complete(),
      });
      return () => {
        sub.unsubscribe();
        table.dispose();
      };
    });
}
