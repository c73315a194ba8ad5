import type { OperatorFunction } from '../util/rx.js';
import type { FieldValue } from '../types.js';
import type { SeqReading } from './holdback.js';
import type { OperatorContext } from './series.js';
import { softSeriesOperator } from './soft-series.js';

export interface DeadbandOptions {
  /** Fields watched; default every field. Other fields pass through untouched. */
  readonly fields?: readonly string[];
  /** Emit when |Δ| from the last EMITTED value exceeds this. */
  readonly abs?: number;
  /** Emit when |Δ| exceeds this percentage of |last emitted value|. */
  readonly pct?: number;
  /** Emit an unchanged value anyway once this many ms (event time) passed since it was last emitted. */
  readonly heartbeat?: number;
  /** Forget a series after this much scheduler time without a reading. Default heartbeat, else 1 h. */
  readonly idle?: number;
  readonly max_series?: number;
}

export const DEFAULT_SOFT_IDLE_MS = 3_600_000;

interface Emitted {
  value: FieldValue;
  at: bigint;
}

/**
 * Report by exception, per series and per watched field: a field's value is emitted when it
 * is the first of its series (or of the field), when it differs from the last EMITTED value
 * by more than `abs` or more than `pct`% of that value (numbers and integers; other types:
 * when not equal), or when `heartbeat` ms of event time have passed since the field was
 * last emitted. A reading goes on with the unwatched fields and the watched fields that
 * qualify (the same object when all do); when none is left it is suppressed. Readings keep
 * their timestamps and seqs. With neither `abs` nor `pct`, any change qualifies.
 *
 * The state (last emitted values) is soft: it holds no seq. After a restart the first
 * reading of each field is emitted again: an extra true point, never a wrong one.
 * On complete/error: forwarded at once (nothing is pending). On unsubscribe: state and
 * timer are dropped.
 */
export function deadband(options: DeadbandOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  const { abs, pct, heartbeat } = options;
  if (abs !== undefined && !(abs >= 0)) throw new RangeError(`deadband: abs must be >= 0, got ${abs}`);
  if (pct !== undefined && !(pct >= 0)) throw new RangeError(`deadband: pct must be >= 0, got ${pct}`);
  if (heartbeat !== undefined && !(heartbeat >= 1)) throw new RangeError(`deadband: heartbeat must be >= 1 ms, got ${heartbeat}`);
  const watched = options.fields ? new Set(options.fields) : undefined;
  const hbNs = heartbeat === undefined ? undefined : BigInt(heartbeat) * 1_000_000n;
  const ratio = pct === undefined ? undefined : pct / 100;
  const absLimit = abs ?? (ratio === undefined ? 0 : undefined);

  const changed = (last: FieldValue, v: FieldValue): boolean => {
    const lastNum = typeof last === 'number' || typeof last === 'bigint';
    if (!lastNum || (typeof v !== 'number' && typeof v !== 'bigint')) return !(last === v || (Number.isNaN(last) && Number.isNaN(v)));
    const d = Math.abs(typeof v === 'bigint' && typeof last === 'bigint' ? Number(v - last) : Number(v) - Number(last));
    if (Number.isNaN(d)) return !(Number.isNaN(Number(last)) && Number.isNaN(Number(v)));
    return (absLimit !== undefined && d > absLimit) || (ratio !== undefined && d > ratio * Math.abs(Number(last)));
  };

  /** The reading with the fields that qualify (itself when all do); undefined when none does. */
  const qualifying = (t: SeqReading, state: Map<string, Emitted>): SeqReading | undefined => {
    const r = t.reading;
    let kept: Record<string, FieldValue> | undefined;
    let all = true;
    let n = 0;
    for (const name in r.fields) {
      const v = r.fields[name] as FieldValue;
      let pass = true;
      if (watched === undefined || watched.has(name)) {
        const last = state.get(name);
        if (last === undefined) state.set(name, { value: v, at: r.time });
        else if (changed(last.value, v) || (hbNs !== undefined && r.time - last.at >= hbNs)) {
          last.value = v;
          last.at = r.time;
        } else pass = false;
      }
      if (pass) {
        n++;
        if (!all) (kept as Record<string, FieldValue>)[name] = v;
      } else if (all) {
        all = false;
        kept = {};
        for (const prev in r.fields) {
          if (prev === name) break;
          kept[prev] = r.fields[prev] as FieldValue;
        }
      }
    }
    if (all) return t;
    return n > 0 ? { seq: t.seq, reading: { ...r, fields: kept as Record<string, FieldValue> } } : undefined;
  };

  return softSeriesOperator<Map<string, Emitted>>(
    {
      op: 'deadband',
      idleMs: options.idle ?? heartbeat ?? DEFAULT_SOFT_IDLE_MS,
      maxSeries: options.max_series,
      init: () => new Map(),
      step: qualifying,
    },
    context,
  );
}
