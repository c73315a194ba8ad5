/**
 * JSON object payloads → one reading.
 *
 * - Nested objects are flattened with `separator` (`{"a":{"b":1}}` → `a_b`); arrays are
 *   flattened with their index (`{"v":[1,2]}` → `v_0`, `v_1`). Deeper than 32 levels is
 *   `wrong_type`. Empty field names (a top-level `""` key) are skipped.
 * - `rename` maps flattened names to new names; `fields`, `integers` and `tag_keys` use
 *   the names after flattening and renaming. `null` values are skipped.
 * - Numbers are floats, except fields listed in `integers`: those must be integral and
 *   within int64 (exact even beyond 2^53, read from the payload text), else `wrong_type`;
 *   a boolean or string for an integer field is `wrong_type` too. Non-finite numbers
 *   (`1e400`) are `wrong_type`.
 * - `tag_keys`: those values (string, number or boolean; empty strings skipped) become
 *   tags. Topic captures and the rule's static tags win over payload tags with the same
 *   key: the topic is what the broker authenticates, so a device cannot relabel itself.
 * - `time_key` (a literal top-level key first, else a dotted path, e.g. `meta.ts`) gives
 *   the event time: see `toNs`. It is not written as a field. Absent or null → arrival time.
 *
 * Here: the two ways a payload is read (JSON.parse and a walk, or the flat-object scan).
 * The options are compiled once (json-plan.ts), the values typed into the reading by
 * json-reading.ts, exact number literals recovered by json-literals.ts.
 */
import type { JsonOptions } from '../config/types.js';
import { isUtf8 } from 'node:buffer';
import { decodeError, type DecodeError, type Reading } from '../types.js';
import { scanFlatObject } from './flat-json.js';
import { compileJsonPlan, planOf, type JsonPlan } from './json-plan.js';
import { exactNumberLiterals, uniqueKeyLiteral } from './json-literals.js';
import { finish, newWalk, put, type JsonContext, type Walk } from './json-reading.js';
import { significantDigits, TIME_MAX_NS, TIME_MIN_NS, toNs, UNIT_SCALE } from './timestamps.js';

export interface JsonDecoder {
  /** Decodes a payload's text (the caller checked its UTF-8 and dropped a BOM) with JSON.parse. */
  (text: string, ctx: JsonContext): Reading[] | DecodeError;
  /**
   * The fast path, from the payload's bytes `buf[start, end)`: a flat object, decoded as its
   * text would be; undefined when the payload needs the text (anything but a flat object, or
   * bytes that are not valid UTF-8, which the caller's text check then names).
   */
  bytes(buf: Buffer, start: number, end: number, ctx: JsonContext): Reading[] | DecodeError | undefined;
}

const MAX_DEPTH = 32;

/** `fastPath: false` leaves every payload to JSON.parse (tests compare both paths). */
export function createJsonDecoder(opts: JsonOptions, fastPath = true): JsonDecoder {
  const c = compileJsonPlan(opts);
  const decoder = ((text: string, ctx: JsonContext) => decode(c, text, ctx)) as JsonDecoder;
  // A rule whose payloads are not flat objects would pay for a scan that gives up on every
  // message: after the fast path declines, skip it for 1, 2, 4, … up to 256 messages.
  let skip = 0;
  let backoff = 0;
  decoder.bytes = (buf, start, end, ctx) => {
    if (!fastPath) return undefined;
    if (skip > 0) {
      skip--;
      return undefined;
    }
    const r = decodeFlat(c, buf, start, end, ctx);
    if (r !== undefined) backoff = 0;
    else skip = backoff = Math.min(256, backoff * 2 || 1);
    return r;
  };
  return decoder;
}

/**
 * One-off convenience: the text's UTF-8 bytes decoded as a rule decodes a payload, the fast
 * path first (compiles the options on every call; the hot path keeps a `JsonDecoder`).
 */
export function decodeJson(text: string, opts: JsonOptions, ctx: JsonContext): Reading[] | DecodeError {
  const d = createJsonDecoder(opts);
  const bytes = Buffer.from(text, 'utf8');
  return d.bytes(bytes, 0, bytes.length, ctx) ?? d(text, ctx);
}

function decode(c: JsonPlan, text: string, ctx: JsonContext): Reading[] | DecodeError {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    const m = (e as Error).message;
    const at = /at position (\d+)/.exec(m)?.[1] ?? (m.includes('end of JSON') ? String(text.length) : undefined);
    return decodeError('invalid_json', `${at === undefined ? '' : `at position ${at}: `}${m.length > 200 ? m.slice(0, 200) + '…' : m}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return decodeError('not_an_object', `expected a JSON object, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
  }
  const root = obj as Record<string, unknown>;
  let time: bigint | undefined; // undefined: the arrival time (read only then)
  const w = newWalk();
  if (c.timeKey !== undefined) {
    let v: unknown;
    if (Object.hasOwn(root, c.timeKey)) {
      v = root[c.timeKey];
      w.skip = c.timeKey;
    } else {
      v = root;
      for (const p of c.timePath) v = typeof v === 'object' && v !== null && Object.hasOwn(v, p) ? (v as Record<string, unknown>)[p] : undefined;
      w.skip = c.timeFlat;
    }
    if (v !== undefined && v !== null) {
      const key = c.timeKey;
      const t = toNs(v, c.unit, () => (v === root[key] ? uniqueKeyLiteral(text, c.timeNeedle, v) : undefined) ?? exactNumberLiterals(text, '.').get(key));
      if (typeof t === 'string') return decodeError('invalid_timestamp', `time key "${c.timeKey}": ${t}`);
      time = t;
    }
  }
  const err = walk(c, root, undefined, 0, w);
  if (err !== undefined) return err;
  let exact: Map<string, string> | undefined;
  return finish(w, time, ctx, (flat) => (exact ??= exactNumberLiterals(text, c.sep)).get(flat));
}

/**
 * The fast path for the common payload, a flat object (`{"t":21.5,"n":3,"ts":1700000000}`),
 * scanned once without JSON.parse (flat-json.ts). Undefined when the payload is anything
 * else, or anything the scanner leaves to JSON.parse (escapes, nesting, errors): the
 * general path then decides. Both paths give the same result (a fuzz property checks it).
 */
function decodeFlat(c: JsonPlan, buf: Buffer, start: number, end: number, ctx: JsonContext): Reading[] | DecodeError | undefined {
  const s = scanFlatObject(buf, start, end);
  if (s === undefined || (!s.ascii && !isUtf8(buf.subarray(start, end)))) return undefined;
  const { keys, values, literals, n } = s;
  let time: bigint | undefined; // undefined: the arrival time (read only then)
  const w = newWalk();
  if (c.timeKey !== undefined) {
    w.skip = c.timeFlat;
    for (let i = 0; i < n; i++) {
      if (keys[i] !== c.timeKey) continue;
      w.skip = c.timeKey;
      const v = values[i];
      if (v !== null) {
        const lit = literals[i];
        // An exact integer (no literal kept) in a numeric unit: what toNs would compute.
        const quick = typeof v === 'number' && lit === undefined && c.unit !== 'iso' && Number.isSafeInteger(v) ? BigInt(v) * UNIT_SCALE[c.unit] : undefined;
        if (quick !== undefined && quick >= TIME_MIN_NS && quick <= TIME_MAX_NS) time = quick;
        else {
          const t = toNs(v, c.unit, () => lit);
          if (typeof t === 'string') return decodeError('invalid_timestamp', `time key "${c.timeKey}": ${t}`);
          time = t;
        }
      }
      break;
    }
  }
  const plans = c.plans;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const key = keys[i] as string;
    if (v === null || key === w.skip) continue;
    let plan = plans[i];
    if (plan === undefined || plan.flat !== key) plan = plans[i] = planOf(c, key);
    const err = put(c, plan, v, w);
    if (err !== undefined) return err;
  }
  if (w.unsafe === undefined) return finish(w, time, ctx); // no closure to make for the common case
  return finish(w, time, ctx, (flat) => {
    for (let i = 0; i < n; i++) {
      if (keys[i] !== flat) continue;
      const lit = literals[i];
      return lit !== undefined && lit.length > 15 && significantDigits(lit) > 15 ? lit : undefined;
    }
    return undefined;
  });
}

function walk(c: JsonPlan, obj: object, prefix: string | undefined, depth: number, w: Walk): DecodeError | undefined {
  if (depth >= MAX_DEPTH) return decodeError('wrong_type', `"${prefix}": nested deeper than ${MAX_DEPTH} levels`);
  const arr = Array.isArray(obj);
  const keys = arr ? undefined : Object.keys(obj);
  const n = arr ? (obj as unknown[]).length : (keys as string[]).length;
  for (let i = 0; i < n; i++) {
    const key = arr ? String(i) : ((keys as string[])[i] as string);
    const v = (obj as Record<string, unknown>)[key];
    if (v === null || v === undefined) continue;
    const flat = prefix === undefined ? key : prefix + c.sep + key;
    const err = typeof v === 'object' ? walk(c, v, flat, depth + 1, w) : leaf(c, flat, v, w);
    if (err !== undefined) return err;
  }
  return undefined;
}

/** One value that is not an object or array, under its flattened name. */
function leaf(c: JsonPlan, flat: string, v: unknown, w: Walk): DecodeError | undefined {
  return flat === w.skip ? undefined : put(c, planOf(c, flat), v, w);
}
