/**
 * Running aggregates of one field over one window: what `window` (and `throttle` with
 * `keep: mean`) accumulate per field, in O(1) per value (percentiles: a bounded sample).
 *
 * Field types stay stable per output field, as InfluxDB requires:
 * - `count` is always an integer (bigint);
 * - `sum` is an integer when every value in the window was an integer (bigint), else a float;
 * - `mean`, `stddev` (sample, n-1; omitted below two values) and percentiles are floats;
 * - `min`, `max`, `first`, `last` keep the type of the value they pick.
 * `count`, `first` and `last` take every value (booleans and strings too); the others only
 * numbers and integers, and skip NaN and ±Infinity. `first`/`last` go by event time (ties:
 * the earlier, resp. later, arrival).
 */
import type { AggregateName } from '../config/pipeline-defaults.js';
import type { FieldValue } from '../types.js';

export { AGGREGATES, type AggregateName } from '../config/pipeline-defaults.js';

const PERCENTILE: Partial<Record<AggregateName, number>> = { p50: 50, p90: 90, p95: 95, p99: 99 };

export function isPercentile(a: AggregateName): boolean {
  return PERCENTILE[a] !== undefined;
}

export class FieldAggregate {
  count = 0;
  first: FieldValue = 0;
  firstTime = 0n;
  last: FieldValue = 0;
  lastTime = 0n;
  /** Numeric values (numbers and bigints) taken into min/max/sum/mean/stddev. */
  n = 0;
  allInt = true;
  min: number | bigint = 0;
  max: number | bigint = 0;
  sumFloat = 0;
  sumInt = 0n;
  mean = 0;
  m2 = 0;
  /** Systematic sample for percentiles: every `stride`-th numeric value, at most `maxSamples`. */
  private samples: number[] | undefined;
  private stride = 1;

  /** `maxSamples` > 0 keeps a sample for percentiles. */
  constructor(private readonly maxSamples = 0) {
    if (maxSamples > 0) this.samples = [];
  }

  add(v: FieldValue, time: bigint): void {
    if (this.count === 0 || time < this.firstTime) {
      this.first = v;
      this.firstTime = time;
    }
    if (this.count === 0 || time >= this.lastTime) {
      this.last = v;
      this.lastTime = time;
    }
    this.count++;
    let x: number;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return;
      x = v;
      this.allInt = false;
    } else if (typeof v === 'bigint') {
      x = Number(v);
      if (this.allInt) this.sumInt += v;
    } else {
      return;
    }
    if (this.n === 0 || v < this.min) this.min = v;
    if (this.n === 0 || v > this.max) this.max = v;
    this.sumFloat += x;
    const k = ++this.n;
    const d = x - this.mean;
    this.mean += d / k;
    this.m2 += d * (x - this.mean);
    const s = this.samples;
    if (s !== undefined && (k - 1) % this.stride === 0) {
      if (s.length >= this.maxSamples) {
        // Keep every other sample and take every other value from now on: the sample stays
        // the values at indices 0, stride, 2·stride… (deterministic: a replay gets the same).
        let j = 0;
        for (let i = 0; i < s.length; i += 2) s[j++] = s[i] as number;
        s.length = j;
        this.stride *= 2;
        if ((k - 1) % this.stride === 0) s.push(x);
      } else {
        s.push(x);
      }
    }
  }

  /** The aggregate's value, or undefined when it has none (e.g. a mean of strings). */
  value(a: AggregateName): FieldValue | undefined {
    switch (a) {
      case 'count':
        return BigInt(this.count);
      case 'first':
        return this.first;
      case 'last':
        return this.last;
      default:
        break;
    }
    if (this.n === 0) return undefined;
    switch (a) {
      case 'mean':
        return this.mean;
      case 'min':
        return this.min;
      case 'max':
        return this.max;
      case 'sum':
        return this.allInt ? this.sumInt : this.sumFloat;
      case 'stddev':
        return this.n >= 2 ? Math.sqrt(this.m2 / (this.n - 1)) : undefined;
      default:
        return this.samples ? percentile(this.samples, PERCENTILE[a] as number) : undefined;
    }
  }
}

/** The p-th percentile, interpolating linearly between closest ranks (numpy's default). */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  return a + ((sorted[hi] as number) - a) * (pos - lo);
}

/** The mean of integer values as an integer, rounded half away from zero (throttle keeps field types). */
export function roundedMean(sum: bigint, count: number): bigint {
  const n = BigInt(count);
  const q = sum / n;
  const r = sum % n;
  if (2n * (r < 0n ? -r : r) >= n) return sum < 0n ? q - 1n : q + 1n;
  return q;
}
