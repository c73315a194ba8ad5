import type { OperatorFunction } from '../util/rx.js';
import type { FieldValue, Reading } from '../types.js';
import { DEFAULT_SOFT_IDLE_MS } from './deadband.js';
import type { SeqReading } from './holdback.js';
import type { OperatorContext } from './series.js';
import { softSeriesOperator } from './soft-series.js';

export interface DedupeOptions {
  /** Fields compared; default all (then a reading with a field more or less is different too). */
  readonly fields?: readonly string[];
  /** Emit an identical reading anyway once this many ms (event time) passed since the series last emitted. */
  readonly heartbeat?: number;
  /** Forget a series after this much scheduler time without a reading. Default heartbeat, else 1 h. */
  readonly idle?: number;
  readonly max_series?: number;
}

interface Last {
  fields: Reading['fields'];
  at: bigint;
}

/**
 * Suppresses a reading whose (compared) field values equal those of its series' previous
 * reading, unless `heartbeat` ms of event time passed since the series last emitted. Emitted
 * readings go on unchanged. The state is soft (no seq held): after a restart the first
 * reading of each series is emitted again. On complete/error: forwarded at once. On
 * unsubscribe: state and timer are dropped.
 */
export function dedupe(options: DedupeOptions = {}, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  const { heartbeat } = options;
  if (heartbeat !== undefined && !(heartbeat >= 1)) throw new RangeError(`dedupe: heartbeat must be >= 1 ms, got ${heartbeat}`);
  const hbNs = heartbeat === undefined ? undefined : BigInt(heartbeat) * 1_000_000n;
  const compared = options.fields;
  const same = (a: Reading['fields'], b: Reading['fields']): boolean => {
    if (compared !== undefined) return compared.every((f) => equal(a[f], b[f]));
    let n = 0;
    for (const k in a) {
      if (!equal(a[k], b[k])) return false;
      n++;
    }
    for (const _ in b) n--;
    return n === 0;
  };
  return softSeriesOperator<Last>(
    {
      op: 'dedupe',
      idleMs: options.idle ?? heartbeat ?? DEFAULT_SOFT_IDLE_MS,
      maxSeries: options.max_series,
      init: (t) => ({ fields: t.reading.fields, at: t.reading.time }),
      step(t, last, fresh) {
        const r = t.reading;
        if (fresh) return t;
        if (same(last.fields, r.fields) && !(hbNs !== undefined && r.time - last.at >= hbNs)) return undefined;
        last.fields = r.fields;
        last.at = r.time;
        return t;
      },
    },
    context,
  );
}

function equal(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}
