/**
 * One JSON message's reading as it is built (decode-json.ts): each value is put where its
 * key's plan says (json-plan.ts), typed, and `finish` makes the reading.
 */
import { setProp } from '../util/own.js';
import { decodeError, type DecodeError, type FieldValue, type Reading } from '../types.js';
import type { DecodeContext } from './decode-context.js';
import type { JsonPlan, KeyPlan } from './json-plan.js';

export type JsonContext = DecodeContext & { readonly measurement: string };

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

/** Walk state for one message. */
export interface Walk {
  readonly fields: Record<string, FieldValue>;
  tags: Record<string, string> | undefined;
  /** Integer fields beyond 2^53: [final name, flattened name]; fixed from the text. */
  unsafe: [string, string][] | undefined;
  /** The flattened key not to put (the time key's). */
  skip: string | undefined;
  count: number;
}

export function newWalk(): Walk {
  return { fields: {}, tags: undefined, unsafe: undefined, skip: undefined, count: 0 };
}

/** Puts one value where its plan says: a tag, a field (typed), or nowhere. */
export function put(c: JsonPlan, plan: KeyPlan, v: unknown, w: Walk): DecodeError | undefined {
  const name = plan.name;
  let f: FieldValue;
  switch (plan.kind) {
    case 'skip':
    case 'drop':
      return undefined;
    case 'tag': {
      const s = typeof v === 'string' ? v : String(v);
      if (s !== '') setProp((w.tags ??= {}), name, s);
      return undefined;
    }
    case 'integer':
      if (typeof v !== 'number') return decodeError('wrong_type', `integer field "${name}": got ${typeof v}`);
      if (!Number.isInteger(v)) return decodeError('wrong_type', `integer field "${name}": ${v} is not an integer`);
      if (!Number.isSafeInteger(v)) (w.unsafe ??= []).push([name, plan.flat]);
      f = Number.isSafeInteger(v) ? BigInt(v) : v;
      break;
    default:
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return decodeError('wrong_type', `field "${name}": number out of range`);
        f = v;
      } else if (typeof v === 'boolean') {
        f = v;
      } else if (typeof v === 'string') {
        if (!c.keepStrings) return undefined;
        f = v;
      } else {
        return undefined;
      }
  }
  if (!Object.hasOwn(w.fields, name)) w.count++;
  setProp(w.fields, name, f);
  return undefined;
}

/** Fixes integer fields beyond 2^53 from their literal text (`exactOf`, needed only then), then builds the reading. */
export function finish(w: Walk, time: bigint | undefined, ctx: JsonContext, exactOf?: (flat: string) => string | undefined): Reading[] | DecodeError {
  if (w.unsafe !== undefined) {
    for (const [name, flat] of w.unsafe) {
      const lit = exactOf?.(flat);
      const v = lit !== undefined && /^-?\d+$/.test(lit) ? BigInt(lit) : BigInt(w.fields[name] as number);
      if (v < INT64_MIN || v > INT64_MAX) return decodeError('wrong_type', `integer field "${name}": ${lit ?? v} is outside the int64 range`);
      setProp(w.fields, name, v);
    }
  }
  if (w.count === 0) return decodeError('no_fields', 'no fields left after selection (null values, dropped strings, tags and time are not fields)');
  const tags = w.tags === undefined ? ctx.tags : { ...w.tags, ...ctx.tags };
  return [{ measurement: ctx.measurement, tags, fields: w.fields, time: time ?? ctx.receivedAt }];
}
