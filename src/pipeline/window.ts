import { Observable, type OperatorFunction } from '../util/rx.js';
import { MAX_OPEN_WINDOWS, WINDOW_DEFAULTS } from '../config/pipeline-defaults.js';
import type { SeqReading } from './holdback.js';
import { notice, resolveContext, seriesKey, SeriesTable, type OperatorContext } from './series.js';
import { WindowMemory } from './window-memory.js';
import { MAX_FIELDS_PER_SERIES, SeriesWindows, WindowAggregator, type Win } from './window-series.js';
import { WindowSpec, type WindowOptions } from './window-spec.js';

export { MAX_FIELDS_PER_SERIES, MAX_OPEN_WINDOWS, WINDOW_DEFAULTS, type WindowOptions };

/**
 * Aggregates each series' readings over tumbling or hopping windows on EVENT time (the
 * reading's timestamp), aligned to the epoch grid: window starts are `offset + k·every`,
 * so the same readings always give the same points. A point is stamped with its window's
 * START and carries the lowest seq of its readings.
 *
 * Emits a window's point when the window closes: when the series' watermark (its newest
 * event time minus `allowed_lateness`) reaches the window's end, or when the series has
 * been idle for `idle` ms of scheduler time (then all its windows close and the series is
 * forgotten, but for its newest event time: window-memory.ts). A reading whose windows are all
 * closed already is late: reported through `onNotice` and dropped or passed on raw (`late`).
 * So is a reading of a gone series for a window that held, or came before, its newest
 * reading (every such window was written, or closed, as the series went idle); a gone
 * series is remembered for a day (or 7 periods, if longer) after its last reading plus
 * `idle`, and at most `max_series` of them (past that the oldest is forgotten early:
 * notice `memory_limit`). With `keep_raw`, every reading is passed on as it comes, too.
 * A series keeps at most MAX_FIELDS_PER_SERIES distinct fields; values of further fields
 * are reported (`field_limit`) and left out of the aggregates.
 *
 * Seqs: each open window holds its lowest seq in the holdback. A closed window is
 * recorded in the context's replay ledger (replay-state.ts: with the series' newest time,
 * saved with the cursor, so that a restart anywhere decides like this run), or without
 * one as an aggregated range, so no cursor lands inside it.
 *
 * On complete: every open window is emitted as it is (a partial window), then completes;
 * those windows keep their holds, so an output never commits past them and a replay
 * (durable mode) rebuilds them whole and overwrites the partial points with the same
 * timestamps. On error: the same flush, then the error. On unsubscribe: state and timer
 * are dropped without emitting; holds stay (the journal still has those readings).
 *
 * This is the RxJS side (when to emit, notices, teardown). Its parts: the options and the
 * grid (window-spec.ts), a series' windows and the aggregation math (window-series.ts),
 * and what is known of a series gone or seen by the run before a restart (window-memory.ts).
 */
export function aggregateWindows(options: WindowOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  const spec = new WindowSpec(options);

  return (source) =>
    new Observable<SeqReading>((out) => {
      const ctx = resolveContext(context);
      const { holdback, scheduler } = ctx;
      const maxSeries = spec.maxSeries ?? ctx.maxSeries;
      const ledger = context?.replay?.ledger(`window ${context.place ?? ''} ${JSON.stringify(options)}`, spec.idle, spec.memory, maxSeries);
      const memory = new WindowMemory(spec, ledger, ctx, maxSeries);
      const windows = new WindowAggregator(spec, holdback);

      /** Emits the point of `w`; a `whole` (closed) window is recorded as written and lets go of its hold. */
      const emit = (s: SeriesWindows, w: Win, whole: boolean) => {
        const fields = windows.fields(s, w);
        if (whole) {
          if (ledger) ledger.written(s.key, w.start, w.lo, w.hi);
          else holdback.aggregated(w.lo, w.hi);
        }
        if (fields !== undefined) out.next({ seq: w.lo, reading: { measurement: s.measurement, tags: s.tags, fields, time: w.start } });
        if (whole) holdback.release(w.hold);
      };
      const close = (s: SeriesWindows, w: Win) => emit(s, w, true);
      const table = new SeriesTable<SeriesWindows>({
        idleMs: spec.idle,
        maxSeries,
        scheduler,
        onIdle: (s, key, at) => {
          for (const w of s.wins) emit(s, w, true);
          s.wins.length = 0;
          memory.forgot(key, s, at);
        },
      });

      const late = (t: SeqReading) => {
        ctx.onNotice(notice('window', 'late', spec.lateRaw ? 'raw' : 'dropped', t));
        if (spec.lateRaw) out.next(t);
      };

      const onReading = (t: SeqReading) => {
        const r = t.reading;
        if (!spec.aggregatesAny(r.fields)) {
          out.next(t);
          return;
        }
        const key = seriesKey(r);
        const lastStart = spec.startOf(r.time);
        let s = table.get(key);
        if (s === undefined) {
          s = memory.open(key, r, lastStart);
          if (s === undefined) {
            late(t);
            return;
          }
          if (!table.add(key, s)) {
            ctx.onNotice(notice('window', 'series_limit', 'dropped', t));
            return;
          }
          memory.back(key);
        }
        if (lastStart <= s.closedStart) {
          // Every window holding this reading has closed.
          ledger?.seen(key, s.maxTime, scheduler.now(), s.floor);
          late(t);
          return;
        }
        if (windows.add(s, t, lastStart) > 0) ctx.onNotice(notice('window', 'field_limit', 'dropped', t));
        windows.advance(s, r.time, close);
        ledger?.seen(key, s.maxTime, scheduler.now(), s.floor);
        if (spec.keepRaw) out.next(t);
      };

      const flushPartial = () =>
        table.drain((s) => {
          for (const w of s.wins) emit(s, w, false);
        });

      const sub = source.subscribe({
        next: onReading,
        error(e) {
          flushPartial();
          out.error(e);
        },
        complete() {
          flushPartial();
          out.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        table.dispose();
        memory.clear();
      };
    });
}
