import { Observable, type OperatorFunction } from 'rxjs';
import { MAX_OPEN_WINDOWS, WINDOW_DEFAULTS } from '../config/pipeline-defaults.js';
import { formatDuration } from '../config/units.js';
import type { FieldValue, Reading } from '../types.js';
import { FieldAggregate, isPercentile, type AggregateName } from './aggregate.js';
import { GONE_MEMORY_MS, GoneSeries } from './gone.js';
import type { Hold, SeqReading } from './holdback.js';
import { forgottenNotice, notice, resolveContext, seriesKey, SeriesTable, type OperatorContext } from './series.js';

/** Window options; durations in ms. The config schema (schema-pipeline.ts) produces them. */
export interface WindowOptions {
  /** Windows start every `every` ms on the epoch grid (shifted by `offset`). */
  readonly every: number;
  /** Window length; default `every` (tumbling). Longer: hopping windows. Never shorter. */
  readonly period?: number;
  /** Grid offset, `0 <= offset < every` (e.g. 2h for daily windows in UTC+2). Default 0. */
  readonly offset?: number;
  /** How far behind the newest reading of its series a reading may be and still count. Default 0. */
  readonly allowed_lateness?: number;
  readonly aggregates?: readonly AggregateName[];
  /** Fields to aggregate; default all. A reading with none of them passes through unchanged. */
  readonly fields?: readonly string[];
  /** `fields`: same measurement, fields `<field>_<agg>`; `measurement`: into `<measurement>_<period>`. */
  readonly naming?: 'fields' | 'measurement';
  /** Also pass every raw reading on, unchanged. */
  readonly keep_raw?: boolean;
  /** A reading older than the lateness: `drop` it, or pass it on `raw`. Counted either way. */
  readonly late?: 'drop' | 'raw';
  /** Close the windows of a series and forget it (but for its newest time: see `aggregateWindows`) after this much scheduler time without a reading. Default period + allowed_lateness. */
  readonly idle?: number;
  readonly max_series?: number;
  /** Values kept per field and window for percentiles (deterministic systematic sample). */
  readonly max_samples?: number;
}

export { MAX_OPEN_WINDOWS, WINDOW_DEFAULTS };

/** Distinct fields aggregated per series at most; values of further fields are reported (`field_limit`) and skipped. */
export const MAX_FIELDS_PER_SERIES = 256;

const NS_PER_MS = 1_000_000n;

interface Win {
  readonly start: bigint;
  /** `start` as a number: cheap to compare (distinct grid starts stay distinct and ordered). */
  readonly key: number;
  lo: number;
  hi: number;
  hold: Hold;
  /** Per field slot of the series (`SeriesWindows.names`); undefined: no value in this window. */
  readonly aggs: (FieldAggregate | undefined)[];
}

interface SeriesWindows {
  readonly key: string;
  readonly measurement: string;
  readonly tags: Reading['tags'];
  /** Newest event time seen; the watermark is this minus the lateness. */
  maxTime: bigint;
  /**
   * Watermark minus period: a window starting at or before this has closed. Back from gone,
   * at least the start of the last window written as the series went idle.
   */
  closedStart: bigint;
  /** Back from gone, until the watermark passes it: `closedStart` as it came back (the replay ledger saves it). */
  floor: bigint | undefined;
  /** Open windows, by start (and so by end). */
  readonly wins: Win[];
  /** Field names by slot, in order of first appearance (usually each reading's own order). */
  readonly names: string[];
  /** After a restart: windows (start → hi seq) written by the run before, whose readings up to hi are skipped. */
  written: Map<number, number> | undefined;
}

/**
 * Aggregates each series' readings over tumbling or hopping windows on EVENT time (the
 * reading's timestamp), aligned to the epoch grid: window starts are `offset + k·every`,
 * so the same readings always give the same points. A point is stamped with its window's
 * START and carries the lowest seq of its readings.
 *
 * Emits a window's point when the window closes: when the series' watermark (its newest
 * event time minus `allowed_lateness`) reaches the window's end, or when the series has
 * been idle for `idle` ms of scheduler time (then all its windows close and the series is
 * forgotten, but for its newest event time: gone.ts). A reading whose windows are all
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
 */
export function aggregateWindows(options: WindowOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  const o = { ...WINDOW_DEFAULTS, ...options };
  const period = o.period ?? o.every;
  if (!(o.every >= 1)) throw new RangeError(`window: every must be >= 1 ms, got ${o.every}`);
  if (!(period >= o.every)) throw new RangeError(`window: period (${period} ms) must not be shorter than every (${o.every} ms)`);
  if (!(o.offset >= 0 && o.offset < o.every)) throw new RangeError(`window: offset must be in [0, every), got ${o.offset}`);
  if (o.aggregates.length === 0) throw new RangeError('window: aggregates must name at least one aggregate');
  if (!(o.max_samples >= 1)) throw new RangeError(`window: max_samples must be >= 1, got ${o.max_samples}`);
  if (!(o.allowed_lateness >= 0)) throw new RangeError(`window: allowed_lateness must be >= 0, got ${o.allowed_lateness}`);
  if ((period + o.allowed_lateness) / o.every > MAX_OPEN_WINDOWS) {
    throw new RangeError(`window: period + allowed_lateness spans more than ${MAX_OPEN_WINDOWS} windows of every`);
  }
  const everyNs = BigInt(o.every) * NS_PER_MS;
  const periodNs = BigInt(period) * NS_PER_MS;
  const offsetNs = BigInt(o.offset) * NS_PER_MS;
  const lateNs = BigInt(o.allowed_lateness) * NS_PER_MS;
  const latePlusPeriodNs = lateNs + periodNs;
  const tumbling = period === o.every;
  const aggregates = o.aggregates;
  const samples = aggregates.some(isPercentile) ? o.max_samples : 0;
  const only = o.fields ? new Set(o.fields) : undefined;
  const suffix = o.naming === 'measurement' ? `_${formatDuration(period)}` : '';
  const idle = o.idle ?? period + o.allowed_lateness;
  const memory = Math.max(GONE_MEMORY_MS, 7 * period);
  const maxSeries = o.max_series;
  const names = new Map<string, string[]>(); // a cache of output field names, bounded
  const outName = (field: string, i: number) => {
    let list = names.get(field);
    if (list === undefined) {
      if (names.size >= 4096) names.clear();
      names.set(field, (list = aggregates.map((a) => `${field}_${a}`)));
    }
    return list[i] as string;
  };

  return (source) =>
    new Observable<SeqReading>((out) => {
      const ctx = resolveContext(context);
      const { holdback, scheduler } = ctx;
      const maxGone = maxSeries ?? ctx.maxSeries;
      const ledger = context?.replay?.ledger(`window ${context.place ?? ''} ${JSON.stringify(options)}`, idle, memory, maxGone);
      const gone = new GoneSeries(maxGone);
      const startOf = (time: bigint): bigint => {
        const rem = (offsetNs === 0n ? time : time - offsetNs) % everyNs;
        return rem < 0n ? time - rem - everyNs : time - rem;
      };
      const remember = (key: string, max: bigint, until: number) => {
        const dropped = gone.remember(key, max, until, scheduler.now());
        if (dropped !== undefined) ctx.onNotice(forgottenNotice('window', dropped.key, dropped.time));
      };

      const emit = (s: SeriesWindows, w: Win, whole: boolean) => {
        const fields: Record<string, FieldValue> = {};
        let any = false;
        for (let slot = 0; slot < w.aggs.length; slot++) {
          const acc = w.aggs[slot];
          if (acc === undefined) continue;
          const name = s.names[slot] as string;
          for (let i = 0; i < aggregates.length; i++) {
            const v = acc.value(aggregates[i] as AggregateName);
            if (v !== undefined) {
              fields[outName(name, i)] = v;
              any = true;
            }
          }
        }
        if (whole) {
          if (ledger) ledger.written(s.key, w.start, w.lo, w.hi);
          else holdback.aggregated(w.lo, w.hi);
        }
        if (any) out.next({ seq: w.lo, reading: { measurement: s.measurement, tags: s.tags, fields, time: w.start } });
        if (whole) holdback.release(w.hold);
      };
      const closeAll = (s: SeriesWindows, key: string, at: number) => {
        for (const w of s.wins) emit(s, w, true);
        s.wins.length = 0;
        remember(key, s.maxTime, at + idle + memory);
      };
      const table = new SeriesTable<SeriesWindows>({ idleMs: idle, maxSeries: maxSeries ?? ctx.maxSeries, scheduler: ctx.scheduler, onIdle: closeAll });

      const windowAt = (s: SeriesWindows, start: bigint, seq: number): Win => {
        const wins = s.wins;
        const key = Number(start);
        let i = wins.length - 1;
        while (i >= 0 && (wins[i] as Win).key > key) i--;
        if (i >= 0 && (wins[i] as Win).key === key) return wins[i] as Win;
        const w: Win = { start, key, lo: seq, hi: seq, hold: holdback.hold(seq), aggs: [] };
        wins.splice(i + 1, 0, w);
        return w;
      };

      // The reading's field slots and values, found once and used for each of its windows.
      const slots: number[] = [];
      const values: FieldValue[] = [];
      const collect = (s: SeriesWindows, t: SeqReading): number => {
        const fields = t.reading.fields;
        const names = s.names;
        let n = 0;
        let dropped = false;
        for (const name in fields) {
          if (only !== undefined && !only.has(name)) continue;
          let slot = names[n] === name ? n : names.indexOf(name);
          if (slot < 0) {
            if (names.length >= MAX_FIELDS_PER_SERIES) {
              dropped = true;
              continue;
            }
            slot = names.push(name) - 1;
          }
          slots[n] = slot;
          values[n++] = fields[name] as FieldValue;
        }
        if (dropped) ctx.onNotice(notice('window', 'field_limit', 'dropped', t));
        return n;
      };

      const add = (w: Win, t: SeqReading, n: number) => {
        if (t.seq < w.lo) {
          const old = w.hold;
          w.hold = holdback.hold(t.seq);
          holdback.release(old);
          w.lo = t.seq;
        }
        if (t.seq > w.hi) w.hi = t.seq;
        const time = t.reading.time;
        const aggs = w.aggs;
        for (let i = 0; i < n; i++) {
          const slot = slots[i] as number;
          let acc = aggs[slot];
          if (acc === undefined) {
            while (aggs.length < slot) aggs.push(undefined);
            aggs[slot] = acc = new FieldAggregate(samples);
          }
          acc.add(values[i] as FieldValue, time);
        }
      };

      const onReading = (t: SeqReading) => {
        const r = t.reading;
        if (only !== undefined && !hasAny(r.fields, only)) {
          out.next(t);
          return;
        }
        const key = seriesKey(r);
        const time = r.time;
        // The latest window holding `time` starts at lastStart (BigInt math allocates: keep it short).
        const lastStart = startOf(time);
        let s = table.get(key);
        if (s === undefined) {
          const now = scheduler.now();
          const before = ledger?.resume(key, now);
          if (before?.gone) remember(key, before.max, before.until);
          const goneMax = gone.recall(key, now);
          if (goneMax !== undefined) {
            // Gone: every window up to the one holding its newest reading was written.
            const closedStart = startOf(goneMax);
            if (lastStart <= closedStart) {
              late(t);
              return;
            }
            s = {
              key,
              measurement: r.measurement + suffix,
              tags: r.tags,
              maxTime: goneMax,
              closedStart,
              floor: closedStart,
              wins: [],
              names: [],
              written: undefined,
            };
          } else {
            const maxTime = before !== undefined && before.max > time ? before.max : time;
            // Back from gone before the cursor: its floor holds as it did in the run before.
            const closed = maxTime - latePlusPeriodNs;
            const floor = before?.floor !== undefined && before.floor > closed ? before.floor : undefined;
            s = {
              key,
              measurement: r.measurement + suffix,
              tags: r.tags,
              maxTime,
              closedStart: floor ?? closed,
              floor,
              wins: [],
              names: [],
              written: before?.written,
            };
          }
          if (!table.add(key, s)) {
            ctx.onNotice(notice('window', 'series_limit', 'dropped', t));
            return;
          }
          if (goneMax !== undefined) gone.delete(key);
        }
        if (lastStart <= s.closedStart) {
          // Every window holding this reading has closed.
          ledger?.seen(key, s.maxTime, scheduler.now(), s.floor);
          late(t);
          return;
        }
        const n = collect(s, t);
        const written = s.written;
        if (tumbling) {
          if (written === undefined || !isWritten(written, lastStart, t.seq)) add(windowAt(s, lastStart, t.seq), t, n);
        } else {
          const before = time - periodNs; // windows starting at or before this end before `time`
          for (let start = lastStart; start > before && start > s.closedStart; start -= everyNs) {
            if (written === undefined || !isWritten(written, start, t.seq)) add(windowAt(s, start, t.seq), t, n);
          }
        }
        if (time > s.maxTime) {
          s.maxTime = time;
          const closed = time - latePlusPeriodNs;
          if (closed > s.closedStart) {
            s.closedStart = closed;
            s.floor = undefined;
            const wins = s.wins;
            let n = 0;
            while (n < wins.length && (wins[n] as Win).start <= closed) emit(s, wins[n++] as Win, true);
            if (n > 0) wins.splice(0, n);
            if (written !== undefined) forgetClosed(s, written, Number(closed));
          }
        }
        ledger?.seen(key, s.maxTime, scheduler.now(), s.floor);
        if (o.keep_raw) out.next(t);
      };

      const late = (t: SeqReading) => {
        const raw = o.late === 'raw' || o.keep_raw;
        ctx.onNotice(notice('window', 'late', raw ? 'raw' : 'dropped', t));
        if (raw) out.next(t);
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
        gone.clear();
      };
    });
}

/** The reading (seq) was part of the written window starting at `start` (after a restart). */
function isWritten(written: Map<number, number>, start: bigint, seq: number): boolean {
  const hi = written.get(Number(start));
  return hi !== undefined && seq <= hi;
}

/** Written windows now closed: a later reading for them is late anyway. */
function forgetClosed(s: SeriesWindows, written: Map<number, number>, closed: number): void {
  for (const start of written.keys()) if (start <= closed) written.delete(start);
  if (written.size === 0) s.written = undefined;
}

function hasAny(fields: Reading['fields'], names: ReadonlySet<string>): boolean {
  for (const f in fields) if (names.has(f)) return true;
  return false;
}
