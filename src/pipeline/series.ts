/**
 * Per-series state for the stateful operators: a series is a measurement plus its tag
 * set. `SeriesTable` keeps one state object per series, forgets a series that has been
 * idle (no reading) for `idleMs` of scheduler time, and refuses new series beyond
 * `maxSeries` (the cardinality guard: a device that puts a counter in a tag must not
 * grow the heap, nor InfluxDB's index, without bound).
 *
 * Also the context every operator takes (`OperatorContext`) and the notices it reports.
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from '../util/rx.js';
import { MAX_TIMER_MS } from '../config/units.js';
import type { Reading } from '../types.js';
import { DEFAULT_MAX_SERIES } from '../config/pipeline-defaults.js';
import { Holdback, type SeqReading } from './holdback.js';
import type { ReplayState } from './replay-state.js';

export { DEFAULT_MAX_SERIES };

export type OperatorName = 'window' | 'debounce' | 'deadband' | 'dedupe' | 'throttle' | 'series_limit';

/** A reading an operator did not treat normally: the caller counts it and may warn. */
export interface Notice {
  readonly op: OperatorName;
  /**
   * `late`: older than the allowed lateness; `series_limit`: a new series beyond `max_series`;
   * `field_limit`: a field beyond the distinct fields a window keeps per series (the
   * reading's other fields still count); `memory_limit`: the step forgot a gone series
   * (idle, its windows written) early, having `max_series` gone series to remember: if
   * it comes back with readings for a written window, they may overwrite its point.
   * `reading` then only names the series (seq -1, no fields, the time remembered).
   */
  readonly reason: 'late' | 'series_limit' | 'field_limit' | 'memory_limit';
  /** What became of the reading: dropped, or passed on unchanged (window `late: raw`); `forgotten` for `memory_limit`. */
  readonly outcome: 'dropped' | 'raw' | 'forgotten';
  readonly reading: SeqReading;
  /** The series as `measurement,tag=value,…` (tags sorted), to name the device in a warning. */
  readonly series: string;
}

/** What every operator takes besides its own options. */
export interface OperatorContext {
  /** The only source of time (idle eviction, quiet periods). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Where operators report the seqs they hold. Default: a private one (nobody asks). */
  readonly holdback?: Holdback;
  /** Late readings and refused series, one call per reading (count them; rate-limit warnings). */
  readonly onNotice?: (n: Notice) => void;
  /** Series cap for operators whose options set none. Default `DEFAULT_MAX_SERIES`. */
  readonly maxSeries?: number;
  /**
   * Where window and throttle operators keep what a restart needs to decide like this run
   * (saved with the cursor; replay-state.ts). Absent: none is kept, and a written window's seq range
   * holds the cursor instead (holdback.ts `aggregated`).
   */
  readonly replay?: ReplayState;
  /** The operator's place in the pipeline (route and step), naming its share of `replay`. */
  readonly place?: string;
}

/** The context with defaults applied. */
export interface ResolvedContext {
  readonly scheduler: SchedulerLike;
  readonly holdback: Holdback;
  readonly onNotice: (n: Notice) => void;
  readonly maxSeries: number;
}

export function resolveContext(ctx: OperatorContext = {}): ResolvedContext {
  return {
    scheduler: ctx.scheduler ?? asyncScheduler,
    holdback: ctx.holdback ?? new Holdback(),
    onNotice: ctx.onNotice ?? (() => {}),
    maxSeries: ctx.maxSeries ?? DEFAULT_MAX_SERIES,
  };
}

export function notice(op: OperatorName, reason: Notice['reason'], outcome: Notice['outcome'], t: SeqReading): Notice {
  return { op, reason, outcome, reading: t, series: describeSeries(t.reading) };
}

/**
 * The identity of a reading's series: measurement and tags, sorted by key. Tags usually
 * come in the same (often sorted) key order, so the sort is skipped when not needed.
 * NUL and SOH separate the parts (they do not occur in topics or line protocol).
 */
export function seriesKey(r: Reading): string {
  const tags = r.tags;
  const keys = Object.keys(tags);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys.sort();
      break;
    }
  }
  let key = r.measurement;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    key += '\u0000' + k + '\u0001' + tags[k];
  }
  return key;
}

/** The notice for a gone series a step forgot early (gone.ts): `reading` only names it (seq -1, no fields, `time`). */
export function forgottenNotice(op: OperatorName, key: string, time: bigint): Notice {
  const [measurement, ...tags] = key.split('\u0000');
  const tagSet = Object.fromEntries(tags.map((kv) => kv.split('\u0001') as [string, string]));
  return notice(op, 'memory_limit', 'forgotten', { seq: -1, reading: { measurement: measurement as string, tags: tagSet, fields: {}, time } });
}

/** `climate,device=th1,location=kitchen`: the series for people (logs, warnings). */
export function describeSeries(r: Reading): string {
  const keys = Object.keys(r.tags).sort();
  return [r.measurement, ...keys.map((k) => `${k}=${r.tags[k]}`)].join(',');
}

export interface SeriesTableOptions<S> {
  /** Forget a series after this much scheduler time without a reading; Infinity: never. */
  readonly idleMs: number;
  /** At most this many series at once; `add` refuses more. */
  readonly maxSeries: number;
  readonly scheduler: SchedulerLike;
  /** Called with a series' state once it was forgotten for being idle (e.g. to emit what it held), its key and the time of its last reading. */
  readonly onIdle: (state: S, key: string, at: number) => void;
}

interface Entry<S> {
  readonly key: string;
  readonly state: S;
  /** Last reading (scheduler time). */
  at: number;
  /** When the entry is due for a check in the heap (<= at + idleMs). */
  due: number;
  /** Tie-break among equal `due`: first queued, first checked. */
  order: number;
  gone: boolean;
}

/**
 * Series state by key, plus a min-heap of entries by `due` for idle eviction: one timer
 * per table, due at the heap's top. A reading only stamps its entry (`at`), it does not
 * touch the heap; when an entry comes due and it has been seen since, it is queued again
 * at `at + idleMs`, so each series costs O(log n) once per idle period, not per reading,
 * and eviction stays exact: a series is forgotten `idleMs` after its last reading.
 * Not an operator: the operators own one each and `dispose()` it on teardown.
 */
export class SeriesTable<S> {
  /** Readings refused because the table was full (counted per reading). */
  rejected = 0;
  private readonly map = new Map<string, Entry<S>>();
  private heap: Entry<S>[] = [];
  private order = 0;
  private timer: Subscription | undefined;
  private timerDue = Infinity;

  constructor(private readonly opts: SeriesTableOptions<S>) {
    if (!(opts.idleMs > 0)) throw new RangeError(`series table: idleMs must be > 0, got ${opts.idleMs}`);
    if (!(opts.maxSeries >= 1)) throw new RangeError(`series table: maxSeries must be >= 1, got ${opts.maxSeries}`);
  }

  get size(): number {
    return this.map.size;
  }

  /** The state of `key`, marking the series as just seen; undefined for an unknown series. */
  get(key: string): S | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    e.at = this.opts.scheduler.now();
    return e.state;
  }

  /** Adds a new series; false (and counted in `rejected`) when the table is full. */
  add(key: string, state: S): boolean {
    if (this.map.size >= this.opts.maxSeries) {
      this.rejected++;
      return false;
    }
    const now = this.opts.scheduler.now();
    const e: Entry<S> = { key, state, at: now, due: now + this.opts.idleMs, order: 0, gone: false };
    this.map.set(key, e);
    if (Number.isFinite(this.opts.idleMs)) {
      this.push(e);
      if (e.due < this.timerDue) this.arm(now);
    }
    return true;
  }

  /** Forgets a series without calling `onIdle`. */
  delete(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    e.gone = true;
  }

  /** Empties the table and stops its timer, handing every state to `fn` (oldest first). */
  drain(fn: (state: S) => void): void {
    const entries = [...this.map.values()];
    this.dispose();
    for (const e of entries) fn(e.state);
  }

  /** Empties the table and stops its timer (teardown). */
  dispose(): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
    this.timerDue = Infinity;
    this.map.clear();
    this.heap = [];
  }

  /** (Re)arms the timer for the heap's top. */
  private arm(now: number): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
    this.timerDue = Infinity;
    const top = this.heap[0];
    if (top === undefined) return;
    this.timerDue = top.due;
    // A timer waits at most MAX_TIMER_MS (Node's limit); a sweep before the due time re-arms.
    this.timer = this.opts.scheduler.schedule(() => this.sweep(), Math.min(MAX_TIMER_MS, Math.max(0, top.due - now)));
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const { idleMs, onIdle } = this.opts;
    const now = this.opts.scheduler.now();
    let top: Entry<S> | undefined;
    while ((top = this.heap[0]) !== undefined && top.due <= now) {
      this.pop();
      if (top.gone) continue;
      if (top.at + idleMs <= now) {
        this.map.delete(top.key);
        top.gone = true;
        onIdle(top.state, top.key, top.at); // may emit, and even tear the table down (dispose empties the heap)
      } else {
        top.due = top.at + idleMs;
        this.push(top);
      }
    }
    if (this.timer === undefined) this.arm(now);
  }

  private push(e: Entry<S>): void {
    e.order = this.order++;
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Entry<S>;
      if (!before(e, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Entry<S>;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r] as Entry<S>, h[l] as Entry<S>) ? r : l;
      if (!before(h[c] as Entry<S>, last)) break;
      h[i] = h[c] as Entry<S>;
      i = c;
    }
    h[i] = last;
  }
}

function before<S>(a: Entry<S>, b: Entry<S>): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}
