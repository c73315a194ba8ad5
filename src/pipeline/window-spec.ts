/**
 * A window step's options, checked once and resolved: the grid in nanoseconds (window
 * starts are `offset + k·every` on the epoch grid, before the epoch too, so the same
 * readings always fall into the same windows), what is aggregated, and the names of the
 * output fields. Pure: no time, no state but a bounded cache of field names.
 */
import { MAX_OPEN_WINDOWS, WINDOW_DEFAULTS } from '../config/pipeline-defaults.js';
import { formatDuration } from '../config/units.js';
import type { Reading } from '../types.js';
import { isPercentile, type AggregateName } from './aggregate.js';
import { goneMemoryMs } from './gone.js';

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

const NS_PER_MS = 1_000_000n;
/** Output field names cached at most (fields × aggregates); past it the cache starts over. */
const NAME_CACHE = 4096;

export class WindowSpec {
  readonly everyNs: bigint;
  readonly periodNs: bigint;
  /** `allowed_lateness + period`: a window starting at or before (newest time − this) has closed. */
  readonly latePlusPeriodNs: bigint;
  /** `period === every`: each reading joins one window. */
  readonly tumbling: boolean;
  readonly aggregates: readonly AggregateName[];
  /** Values sampled per field and window for percentiles; 0 when no percentile is asked. */
  readonly samples: number;
  /** The fields aggregated; undefined: all. */
  readonly only: ReadonlySet<string> | undefined;
  /** Appended to the measurement: `_<period>` with `naming: measurement`, else empty. */
  readonly suffix: string;
  /** Scheduler ms without a reading after which a series' windows close and it is forgotten. */
  readonly idle: number;
  /** How long (ms) a forgotten series is remembered as gone after `idle` (gone.ts). */
  readonly memory: number;
  /** The step's own series cap, if its options set one. */
  readonly maxSeries: number | undefined;
  readonly keepRaw: boolean;
  /** A late reading is passed on (`late: raw`, or `keep_raw`), not dropped. */
  readonly lateRaw: boolean;
  private readonly offsetNs: bigint;
  private readonly names = new Map<string, string[]>();

  /** Throws a RangeError naming the option that makes no sense. */
  constructor(options: WindowOptions) {
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
    this.everyNs = BigInt(o.every) * NS_PER_MS;
    this.periodNs = BigInt(period) * NS_PER_MS;
    this.offsetNs = BigInt(o.offset) * NS_PER_MS;
    this.latePlusPeriodNs = BigInt(o.allowed_lateness) * NS_PER_MS + this.periodNs;
    this.tumbling = period === o.every;
    this.aggregates = o.aggregates;
    this.samples = o.aggregates.some(isPercentile) ? o.max_samples : 0;
    this.only = o.fields ? new Set(o.fields) : undefined;
    this.suffix = o.naming === 'measurement' ? `_${formatDuration(period)}` : '';
    this.idle = o.idle ?? period + o.allowed_lateness;
    this.memory = goneMemoryMs(period);
    this.maxSeries = o.max_series;
    this.keepRaw = o.keep_raw;
    this.lateRaw = o.late === 'raw' || o.keep_raw;
  }

  /** The start of the latest window holding event time `time` (ns). BigInt math allocates: keep it short. */
  startOf(time: bigint): bigint {
    const rem = (this.offsetNs === 0n ? time : time - this.offsetNs) % this.everyNs;
    return rem < 0n ? time - rem - this.everyNs : time - rem;
  }

  /** The reading has a field this step aggregates (any field, without `fields`). */
  aggregatesAny(fields: Reading['fields']): boolean {
    const only = this.only;
    if (only === undefined) return true;
    for (const f in fields) if (only.has(f)) return true;
    return false;
  }

  /** The output field of aggregate `i` (of `aggregates`) over `field`: `<field>_<aggregate>`. */
  outName(field: string, i: number): string {
    let list = this.names.get(field);
    if (list === undefined) {
      if (this.names.size >= NAME_CACHE) this.names.clear();
      this.names.set(field, (list = this.aggregates.map((a) => `${field}_${a}`)));
    }
    return list[i] as string;
  }
}
