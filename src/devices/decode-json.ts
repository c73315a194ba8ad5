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
 */
import { setProp } from '../util/own.js';
import type { JsonOptions, TimeUnit } from '../config/types.js';
import { isUtf8 } from 'node:buffer';
import { decodeError, type DecodeError, type FieldValue, type Reading } from '../types.js';
import type { DecodeContext } from './decode-context.js';
import { scanFlatObject } from './flat-json.js';
import { significantDigits, TIME_MAX_NS, TIME_MIN_NS, toNs, UNIT_SCALE } from './timestamps.js';

type JsonContext = DecodeContext & { readonly measurement: string };

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
const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

interface Compiled {
  readonly sep: string;
  readonly rename: ReadonlyMap<string, string>;
  readonly only: ReadonlySet<string> | undefined;
  readonly integers: ReadonlySet<string>;
  readonly tagKeys: ReadonlySet<string>;
  readonly keepStrings: boolean;
  readonly timeKey: string | undefined;
  /** `"time_key"` as it appears in a payload that does not escape it. */
  readonly timeNeedle: string;
  readonly timePath: readonly string[];
  readonly timeFlat: string;
  readonly unit: TimeUnit;
  /**
   * The fast path's plan for the key at each position of the last flat payload: a device
   * sends the same keys in the same order, and the scanner hands back the same key strings,
   * so most messages find every plan here by identity instead of four lookups per key.
   */
  readonly plans: (KeyPlan | undefined)[];
}

/** What a value under one flattened key becomes: the key after `rename`, and its role. */
interface KeyPlan {
  readonly flat: string;
  readonly name: string;
  /** skip: an empty name (not written); drop: not among `fields`; tag; integer; field. */
  readonly kind: 'skip' | 'drop' | 'tag' | 'integer' | 'field';
}

/** Walk state for one message. */
interface Walk {
  readonly fields: Record<string, FieldValue>;
  tags: Record<string, string> | undefined;
  /** Integer fields beyond 2^53: [final name, flattened name]; fixed from the text. */
  unsafe: [string, string][] | undefined;
  skip: string | undefined;
  count: number;
}

/** `fastPath: false` leaves every payload to JSON.parse (tests compare both paths). */
export function createJsonDecoder(opts: JsonOptions, fastPath = true): JsonDecoder {
  const c: Compiled = {
    sep: opts.separator,
    rename: new Map(Object.entries(opts.rename)),
    only: opts.fields.length > 0 ? new Set(opts.fields) : undefined,
    integers: new Set(opts.integers),
    tagKeys: new Set(opts.tag_keys),
    keepStrings: opts.strings !== 'drop',
    timeKey: opts.time_key,
    timeNeedle: JSON.stringify(opts.time_key ?? ''),
    timePath: opts.time_key?.split('.') ?? [],
    timeFlat: opts.time_key?.split('.').join(opts.separator) ?? '',
    unit: opts.time_unit,
    plans: [],
  };
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

function decode(c: Compiled, text: string, ctx: JsonContext): Reading[] | DecodeError {
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
  const w: Walk = { fields: {}, tags: undefined, unsafe: undefined, skip: undefined, count: 0 };
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

/** Fixes integer fields beyond 2^53 from their literal text (`exactOf`, needed only then), then builds the reading. */
function finish(w: Walk, time: bigint | undefined, ctx: JsonContext, exactOf?: (flat: string) => string | undefined): Reading[] | DecodeError {
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

/**
 * The fast path for the common payload, a flat object (`{"t":21.5,"n":3,"ts":1700000000}`),
 * scanned once without JSON.parse (flat-json.ts). Undefined when the payload is anything
 * else, or anything the scanner leaves to JSON.parse (escapes, nesting, errors): the
 * general path then decides. Both paths give the same result (a fuzz property checks it).
 */
function decodeFlat(c: Compiled, buf: Buffer, start: number, end: number, ctx: JsonContext): Reading[] | DecodeError | undefined {
  const s = scanFlatObject(buf, start, end);
  if (s === undefined || (!s.ascii && !isUtf8(buf.subarray(start, end)))) return undefined;
  const { keys, values, literals, n } = s;
  let time: bigint | undefined; // undefined: the arrival time (read only then)
  const w: Walk = { fields: {}, tags: undefined, unsafe: undefined, skip: undefined, count: 0 };
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

function walk(c: Compiled, obj: object, prefix: string | undefined, depth: number, w: Walk): DecodeError | undefined {
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
function leaf(c: Compiled, flat: string, v: unknown, w: Walk): DecodeError | undefined {
  return flat === w.skip ? undefined : put(c, planOf(c, flat), v, w);
}

function planOf(c: Compiled, flat: string): KeyPlan {
  const name = c.rename.get(flat) ?? flat;
  let kind: KeyPlan['kind'];
  if (flat === '') kind = 'skip';
  else if (c.tagKeys.has(name)) kind = 'tag';
  else if (c.only !== undefined && !c.only.has(name)) kind = 'drop';
  else if (c.integers.has(name)) kind = 'integer';
  else kind = 'field';
  return { flat, name, kind };
}

/** Puts one value where its plan says: a tag, a field (typed), or nowhere. */
function put(c: Compiled, plan: KeyPlan, v: unknown, w: Walk): DecodeError | undefined {
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

/**
 * The number literal after the key `needle` (a JSON string, quotes included) when the
 * payload holds that string exactly once and it is followed by `:` and a number that
 * JSON.parse read as `v`; else undefined (the caller scans the whole payload). Unique, so
 * it is the top-level key the value came from: no nested key or string value can be it.
 */
export function uniqueKeyLiteral(text: string, needle: string, v: unknown): string | undefined {
  const at = text.indexOf(needle);
  if (at < 0 || text.indexOf(needle, at + 1) >= 0) return undefined;
  let i = at + needle.length;
  while (isJsonSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i++) !== 58 /* : */) return undefined;
  while (isJsonSpace(text.charCodeAt(i))) i++;
  const start = i;
  for (let ch = text.charCodeAt(i); (ch >= 48 && ch <= 57) || ch === 45 || ch === 43 || ch === 46 || ch === 101 || ch === 69; ch = text.charCodeAt(++i));
  const lit = text.slice(start, i);
  return lit !== '' && Number(lit) === v ? lit : undefined;
}

function isJsonSpace(ch: number): boolean {
  return ch === 32 || ch === 10 || ch === 13 || ch === 9;
}

interface Frame {
  readonly name: string | undefined;
  readonly arr: boolean;
  idx: number;
  key: string | undefined;
}

/**
 * The literal text of every number with more than 15 significant digits in a JSON
 * document that JSON.parse already accepted, by flattened name (`sep`-joined path):
 * JSON.parse rounds such numbers to the nearest double. Only run when one is needed exactly.
 */
export function exactNumberLiterals(text: string, sep: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: Frame[] = [];
  const child = (f: Frame): string => (f.name === undefined ? '' : f.name + sep) + (f.arr ? String(f.idx) : (f.key ?? ''));
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    const top = stack[stack.length - 1];
    if (ch === '{' || ch === '[') stack.push({ name: top === undefined ? undefined : child(top), arr: ch === '[', idx: 0, key: undefined });
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',') {
      if (top?.arr) top.idx++;
      else if (top) top.key = undefined;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top !== undefined && !top.arr && top.key === undefined) top.key = JSON.parse(text.slice(i, j + 1)) as string;
      i = j;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const lit = text.slice(i, j);
      if (top !== undefined && lit.length > 15 && significantDigits(lit) > 15) out.set(child(top), lit);
      i = j - 1;
    }
  }
  return out;
}

export { setProp };
