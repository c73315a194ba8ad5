/**
 * InfluxDB's type rule for fields: within a measurement (per shard), a field keeps the
 * type it was first written with (float, integer, string or boolean); a point that
 * writes it with another type is rejected ("field type conflict") and ends in the
 * dead-letter file. `FieldTypes` applies that rule to readings before they are written,
 * so that a tool can show such a reading as bad when it is seen, not days later.
 */
import type { FieldValue, Reading } from '../types.js';

export type InfluxFieldType = 'float' | 'integer' | 'string' | 'boolean';

/** The InfluxDB type a field value is written as (line-protocol.ts: bigint → `i`). */
export function influxFieldType(v: FieldValue): InfluxFieldType {
  if (typeof v === 'number') return 'float';
  if (typeof v === 'bigint') return 'integer';
  return typeof v === 'string' ? 'string' : 'boolean';
}

const MAX_FIELDS = 100_000;

export class FieldTypes {
  /** measurement → field → the type it was first seen with. */
  private readonly types = new Map<string, Map<string, InfluxFieldType>>();
  private size = 0;

  /**
   * Learns the reading's field types; returns why InfluxDB would reject it (a field seen
   * before with another type), or undefined. A rejected reading teaches nothing.
   */
  check(r: Reading): string | undefined {
    let known = this.types.get(r.measurement);
    const conflicts: string[] = [];
    for (const [name, value] of Object.entries(r.fields)) {
      const was = known?.get(name);
      const is = influxFieldType(value);
      if (was !== undefined && was !== is) conflicts.push(`field "${name}" is ${article(is)} here but ${article(was)} before`);
    }
    if (conflicts.length > 0) return `${conflicts.join('; ')} (InfluxDB rejects a field whose type changes: field type conflict)`;
    for (const [name, value] of Object.entries(r.fields)) {
      if (this.size >= MAX_FIELDS) break;
      if (known === undefined) this.types.set(r.measurement, (known = new Map()));
      if (!known.has(name)) {
        known.set(name, influxFieldType(value));
        this.size++;
      }
    }
    return undefined;
  }
}

function article(t: InfluxFieldType): string {
  return t === 'integer' ? 'an integer' : `a ${t}`;
}
