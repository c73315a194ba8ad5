/**
 * What every fuzz target asserts, and the figures it collects: the outcome of each case
 * (accepted, or the rejection reason), per-case time with a ceiling, and the slowest case.
 *
 * Time: a case above the ceiling is run twice more and fails only if its fastest run is
 * still above it (a GC pause or a busy shared CPU is not a hang).
 */
import { writeSync } from 'node:fs';
import type { DecodeReason, FieldValue, Reading } from '../../src/types.js';
import { TIME_MAX_NS, TIME_MIN_NS } from '../../src/devices/timestamps.js';
import type { DeviceDecodeReason } from '../../src/devices/profiles/types.js';

/** Every DecodeReason (the Record makes the compiler check the list is complete). */
const CORE: Record<DecodeReason, true> = {
  no_rule: true,
  empty_payload: true,
  payload_too_large: true,
  invalid_utf8: true,
  invalid_json: true,
  not_an_object: true,
  invalid_number: true,
  invalid_line_protocol: true,
  wrong_type: true,
  invalid_timestamp: true,
  no_fields: true,
  checksum_mismatch: true,
  bad_frame: true,
  missing_schema: true,
  internal_error: true,
};
export const ALL_REASONS: ReadonlySet<DeviceDecodeReason> = new Set(Object.keys(CORE) as DeviceDecodeReason[]);

/** FUZZ_TRACE=1 writes each input to stderr before it runs: finds the input of a hang. */
const TRACE = process.env.FUZZ_TRACE === '1';

/** fast-check parameters for a run: the seed, and the property's own error in the report. */
export function fcParams(o: RunOptions): { numRuns: number; seed: number; includeErrorInReport: boolean } {
  return { numRuns: o.numRuns, seed: o.seed, includeErrorInReport: true };
}

export interface RunOptions {
  readonly numRuns: number;
  readonly seed: number;
  /** Per-case time ceiling (ms). */
  readonly maxMs: number;
}

export interface Slowest {
  ms: number;
  input: string;
}

export interface TargetReport {
  readonly name: string;
  readonly seed: number;
  readonly cases: number;
  /** `accepted`, `no_match`, or a rejection reason (`invalid_json`, ...), with counts. */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly slowest: Slowest;
  /** Rejections whose message lacks the place their reason promises (reported, not failed). */
  readonly unplaced: { count: number; example: string | undefined };
}

export class Stats {
  cases = 0;
  readonly outcomes = new Map<string, number>();
  slowest: Slowest = { ms: 0, input: '' };
  unplaced = 0;
  unplacedExample: string | undefined;

  constructor(readonly maxMs: number) {}

  count(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  /**
   * Runs `fn` (pure, or safe to repeat), timing it against the ceiling: `maxMs` for small
   * inputs, growing linearly with `size` (one more `maxMs` per 64 KiB), so a linear decoder
   * on a 256 KiB payload passes and a quadratic one (seconds to minutes) fails.
   */
  time<T>(describe: () => string, fn: () => T, size = 0): T {
    this.cases++;
    if (TRACE) writeSync(2, `[case ${this.cases}] ${describe()}\n`);
    let t0 = performance.now();
    let r = fn();
    let ms = performance.now() - t0;
    const ceiling = this.ceiling(size);
    for (let again = 0; ms > ceiling && again < 2; again++) {
      t0 = performance.now();
      r = fn();
      ms = Math.min(ms, performance.now() - t0);
    }
    this.note(ms, describe, ceiling);
    return r;
  }

  ceiling(size: number): number {
    return this.maxMs * (1 + size / 65536);
  }

  async timeAsync<T>(describe: () => string, fn: () => Promise<T>): Promise<T> {
    this.cases++;
    let t0 = performance.now();
    let r = await fn();
    let ms = performance.now() - t0;
    for (let again = 0; ms > this.maxMs && again < 2; again++) {
      t0 = performance.now();
      r = await fn();
      ms = Math.min(ms, performance.now() - t0);
    }
    this.note(ms, describe, this.maxMs);
    return r;
  }

  private note(ms: number, describe: () => string, ceiling: number): void {
    if (ms > this.slowest.ms) this.slowest = { ms, input: describe() };
    if (ms > ceiling) throw new Error(`took ${ms.toFixed(1)} ms (ceiling ${ceiling.toFixed(0)} ms for this size) on ${describe()}`);
  }

  report(name: string, seed: number): TargetReport {
    return {
      name,
      seed,
      cases: this.cases,
      outcomes: Object.fromEntries([...this.outcomes].sort((a, b) => b[1] - a[1])),
      slowest: this.slowest,
      unplaced: { count: this.unplaced, example: this.unplacedExample },
    };
  }
}

/** Calls `fn`, turning a thrown exception into a failure that names the input. */
export function noThrow<T>(describe: () => string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${describe()}`, { cause: e });
  }
}

function fail(msg: string, describe: () => string): never {
  throw new Error(`${msg} on ${describe()}`);
}

/** A decode result is readings or a decode error with an allowed reason and a message. */
export function checkDecodeResult(
  r: unknown,
  allowed: ReadonlySet<string>,
  stats: Stats,
  describe: () => string,
  place?: (reason: string, message: string) => boolean,
): void {
  if (Array.isArray(r)) {
    for (const x of r) checkReading(x as Reading, describe);
    stats.count('accepted');
    return;
  }
  if (typeof r !== 'object' || r === null) fail(`returned ${String(r)}`, describe);
  const e = r as { kind?: unknown; reason?: unknown; message?: unknown };
  if (e.kind === 'device_status') {
    stats.count('device_status');
    return;
  }
  if (e.kind !== 'decode_error') fail(`returned neither readings nor a decode error: ${JSON.stringify(Object.keys(r))}`, describe);
  if (typeof e.reason !== 'string' || !ALL_REASONS.has(e.reason as DeviceDecodeReason)) fail(`unknown reason ${String(e.reason)}`, describe);
  if (e.reason === 'internal_error') fail(`a decoder threw (internal_error: ${String(e.message)})`, describe);
  if (!allowed.has(e.reason)) fail(`reason ${e.reason} is not one this decoder reports`, describe);
  if (typeof e.message !== 'string' || e.message.trim() === '') fail(`empty message for ${e.reason}`, describe);
  stats.count(e.reason);
  if (place !== undefined && !place(e.reason, e.message)) {
    stats.unplaced++;
    stats.unplacedExample ??= `${e.reason}: "${e.message}" for ${describe()}`;
  }
}

export function checkReading(x: Reading, describe: () => string): void {
  if (typeof x !== 'object' || x === null) fail('a reading is not an object', describe);
  if (typeof x.measurement !== 'string' || x.measurement === '') fail(`bad measurement ${JSON.stringify(x.measurement)}`, describe);
  if (typeof x.time !== 'bigint' || x.time < TIME_MIN_NS || x.time > TIME_MAX_NS) fail(`time ${String(x.time)} is outside InfluxDB's range`, describe);
  for (const [k, v] of Object.entries(x.tags)) if (typeof v !== 'string') fail(`tag ${k} is a ${typeof v}`, describe);
  const keys = Object.keys(x.fields);
  if (keys.length === 0) fail('a reading without fields', describe);
  for (const k of keys) checkField(k, x.fields[k] as FieldValue, describe);
}

function checkField(k: string, v: FieldValue, describe: () => string): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) fail(`field ${k} is ${v}`, describe);
      return;
    case 'bigint':
      if (v < -(2n ** 63n) || v >= 2n ** 63n) fail(`integer field ${k} = ${v} is outside int64`, describe);
      return;
    case 'boolean':
    case 'string':
      return;
    default:
      fail(`field ${k} is a ${typeof v}`, describe);
  }
}

/** One fuzz target: a property run `numRuns` times from `seed`. */
export interface FuzzTarget {
  readonly name: string;
  /** Cases in the full run (`npm run fuzz`); the sample in `npm test` runs fewer. */
  readonly fullRuns: number;
  /** Per-case ceiling (ms) in the full run. */
  readonly maxMs: number;
  run(opts: RunOptions): Promise<TargetReport>;
}
