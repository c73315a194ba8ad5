import { Observable, type OperatorFunction } from '../util/rx.js';
import { THROTTLE_DEFAULTS } from '../config/pipeline-defaults.js';
import type { FieldValue, Reading } from '../types.js';
import { roundedMean } from './aggregate.js';
import type { Hold, SeqReading } from './holdback.js';
import { goneMemoryMs, GoneSeries } from './gone.js';
import { forgottenNotice, notice, resolveContext, seriesKey, SeriesTable, type OperatorContext } from './series.js';

export interface ThrottleOptions {
  /** At most one point per series per `interval` ms of event time (grid-aligned buckets). */
  readonly interval: number;
  /** `last`: the bucket's last reading as it is; `mean`: numeric fields averaged, stamped at the bucket start. */
  readonly keep?: 'last' | 'mean';
  /** Emit a series' bucket after this much scheduler time without a reading. Default `interval`. */
  readonly idle?: number;
  readonly max_series?: number;
}

export { THROTTLE_DEFAULTS };

interface Sum {
  n: number;
  float: number;
  int: bigint;
  allInt: boolean;
  last: FieldValue;
}

interface Bucket {
  start: bigint;
  /** Undefined: the bucket the run before the restart had open (as of the cursor) and wrote; only its start is known. */
  last: SeqReading | undefined;
  hold: Hold | undefined;
  lo: number;
  hi: number;
  sums: Map<string, Sum> | undefined;
}

/**
 * At most one point per series and bucket of `interval` ms of EVENT time, buckets aligned to
 * the epoch grid (replay-deterministic). A bucket is emitted when a reading of a later
 * bucket arrives, or after `idle` ms of scheduler time without a reading of the series.
 * `keep: last` emits the bucket's last-arrived reading unchanged; `keep: mean` emits one
 * reading stamped at the bucket start whose numeric fields are the means (an integer field
 * stays an integer: its mean is rounded half away from zero) and whose other fields take
 * their last value. A reading for a bucket older than its series' current one is late:
 * reported through `onNotice` and dropped. So is a reading of a gone series (forgotten
 * for being idle, its bucket emitted) for that bucket or an older one: the series' last
 * bucket start is remembered as the window step does (gone.ts; notice `memory_limit`
 * past `max_series` gone series).
 *
 * Seqs: `last` holds the seq of the reading it keeps; `mean` holds the bucket's lowest seq
 * and records the bucket as an aggregated range when it closes. With a replay ledger in the
 * context (replay-state.ts), each series' current bucket start is saved with the cursor, so
 * that after a restart a reading late before it is late after it too. On complete: open buckets
 * are emitted (a partial mean keeps its hold, like a partial window), then completes; on
 * error the same, then the error. On unsubscribe: state and timer are dropped.
 */
export function throttleSeries(options: ThrottleOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  if (!(options.interval >= 1)) throw new RangeError(`throttle: interval must be >= 1 ms, got ${options.interval}`);
  const mean = (options.keep ?? THROTTLE_DEFAULTS.keep) === 'mean';
  const intervalNs = BigInt(options.interval) * 1_000_000n;
  return (source) =>
    new Observable<SeqReading>((out) => {
      const ctx = resolveContext(context);
      const { holdback, scheduler } = ctx;
      const idle = options.idle ?? options.interval;
      const memory = goneMemoryMs(options.interval);
      const maxSeries = options.max_series ?? ctx.maxSeries;
      const ledger = context?.replay?.ledger(`throttle ${context.place ?? ''} ${JSON.stringify(options)}`, idle, memory, maxSeries);
      // Series forgotten for being idle, by the start of the bucket written then.
      const gone = new GoneSeries(maxSeries);
      const remember = (key: string, start: bigint, until: number) => {
        const dropped = gone.remember(key, start, until, scheduler.now());
        if (dropped !== undefined) ctx.onNotice(forgottenNotice('throttle', dropped.key, dropped.time));
      };

      const emit = (b: Bucket, whole: boolean) => {
        if (b.last === undefined || b.hold === undefined) return; // written before the restart
        if (!mean) {
          out.next(b.last);
          holdback.release(b.hold);
          return;
        }
        const fields: Record<string, FieldValue> = {};
        for (const [name, s] of b.sums as Map<string, Sum>) {
          fields[name] = s.n === 0 ? s.last : s.allInt ? roundedMean(s.int, s.n) : s.float / s.n;
        }
        const r = b.last.reading;
        if (whole) holdback.aggregated(b.lo, b.hi);
        out.next({ seq: b.lo, reading: { measurement: r.measurement, tags: r.tags, fields, time: b.start } });
        if (whole) holdback.release(b.hold);
      };
      const table = new SeriesTable<Bucket>({
        idleMs: idle,
        maxSeries,
        scheduler: ctx.scheduler,
        onIdle: (b, key, at) => {
          emit(b, true);
          remember(key, b.start, at + idle + memory);
        },
      });

      const add = (b: Bucket, t: SeqReading) => {
        if (b.hold === undefined) {
          // The bucket written before the restart, with a later reading (throttle `last`
          // only: a mean bucket's range keeps the cursor before its readings).
          b.hold = holdback.hold(t.seq);
          b.lo = b.hi = t.seq;
        } else if (!mean) {
          const old = b.hold;
          b.hold = holdback.hold(t.seq);
          holdback.release(old);
        } else if (t.seq < b.lo) {
          const old = b.hold;
          b.hold = holdback.hold(t.seq);
          holdback.release(old);
        }
        b.last = t;
        if (t.seq < b.lo) b.lo = t.seq;
        if (t.seq > b.hi) b.hi = t.seq;
        if (b.sums !== undefined) accumulate(b.sums, t.reading.fields);
      };

      const sub = source.subscribe({
        next(t) {
          const time = t.reading.time;
          const rem = time % intervalNs;
          const start = rem < 0n ? time - rem - intervalNs : time - rem;
          const key = seriesKey(t.reading);
          let b = table.get(key);
          if (b === undefined) {
            const now = scheduler.now();
            const before = ledger?.resume(key, now);
            if (before?.gone) remember(key, before.max, before.until);
            const goneStart = gone.recall(key, now);
            if (goneStart !== undefined && start <= goneStart) {
              // Its bucket was written as it went idle (and older ones before).
              ctx.onNotice(notice('throttle', 'late', 'dropped', t));
              return;
            }
            if (goneStart === undefined && before !== undefined && before.max >= start) {
              b = { start: before.max, last: undefined, hold: undefined, lo: t.seq, hi: t.seq, sums: mean ? new Map() : undefined };
              if (!table.add(key, b)) {
                ctx.onNotice(notice('throttle', 'series_limit', 'dropped', t));
                return;
              }
            } else {
              const nb: Bucket = { start, last: t, hold: holdback.hold(t.seq), lo: t.seq, hi: t.seq, sums: mean ? new Map() : undefined };
              if (!table.add(key, nb)) {
                holdback.release(nb.hold as Hold);
                ctx.onNotice(notice('throttle', 'series_limit', 'dropped', t));
                return;
              }
              if (goneStart !== undefined) gone.delete(key);
              if (nb.sums !== undefined) accumulate(nb.sums, t.reading.fields);
              ledger?.seen(key, start, scheduler.now());
              return;
            }
          }
          ledger?.seen(key, start > b.start ? start : b.start, scheduler.now());
          if (start < b.start) {
            ctx.onNotice(notice('throttle', 'late', 'dropped', t));
            return;
          }
          if (start > b.start) {
            emit(b, true);
            b.start = start;
            b.last = t;
            b.hold = holdback.hold(t.seq);
            b.lo = b.hi = t.seq;
            if (b.sums !== undefined) {
              b.sums.clear();
              accumulate(b.sums, t.reading.fields);
            }
            return;
          }
          add(b, t);
        },
        error(e) {
          table.drain((b) => emit(b, false));
          out.error(e);
        },
        complete() {
          table.drain((b) => emit(b, false));
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

function accumulate(sums: Map<string, Sum>, fields: Reading['fields']): void {
  for (const name in fields) {
    const v = fields[name] as FieldValue;
    let s = sums.get(name);
    if (s === undefined) sums.set(name, (s = { n: 0, float: 0, int: 0n, allInt: true, last: v }));
    s.last = v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) continue;
      s.allInt = false;
      s.float += v;
      s.n++;
    } else if (typeof v === 'bigint') {
      s.int += v;
      s.float += Number(v);
      s.n++;
    }
  }
}
