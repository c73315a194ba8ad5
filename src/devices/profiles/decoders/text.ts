/**
 * Helpers shared by the text-based format decoders: payload → text, JSON object parsing
 * with the same messages as the core JSON decoder, flattening nested objects.
 */
import { setProp } from '../../../util/own.js';
import { utf8Text } from '../../utf8.js';
import { profileError, type ProfileDecodeError, type RawValue } from '../types.js';

const MAX_DEPTH = 32;

export function isProfileError(x: unknown): x is ProfileDecodeError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'decode_error';
}

/** The payload as text (a leading BOM dropped), or `empty_payload` / `invalid_utf8`. */
export function payloadText(payload: Buffer): string | ProfileDecodeError {
  if (payload.length === 0) return profileError('empty_payload', 'empty payload');
  return utf8Text(payload) ?? profileError('invalid_utf8', 'payload is not valid UTF-8');
}

/** Parses a JSON object; anything else is `invalid_json` or `not_an_object`. */
export function parseJsonObject(text: string): Record<string, unknown> | ProfileDecodeError {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const m = (e as Error).message;
    return profileError('invalid_json', m.length > 200 ? m.slice(0, 200) + '…' : m);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return profileError('not_an_object', `expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

/**
 * Flattens `obj` into `out`: nested objects join keys with `sep`, arrays use `index + base`
 * (`{"v":[1,2]}` → `v_0`, `v_1` with base 0). Nulls are skipped. Deeper than 32 levels
 * is `wrong_type`.
 */
export function flatten(obj: object, out: Record<string, RawValue>, sep = '_', prefix?: string, arrayBase = 0, depth = 0): ProfileDecodeError | undefined {
  if (depth >= MAX_DEPTH) return profileError('wrong_type', `"${prefix}": nested deeper than ${MAX_DEPTH} levels`);
  const arr = Array.isArray(obj);
  // for-in, not Object.entries: no array per entry (this runs per message). The objects come
  // from JSON.parse (own, enumerable keys only; an array's indices as strings, in order).
  for (const k in obj) {
    const v = (obj as Record<string, unknown>)[k];
    if (v === null || v === undefined) continue;
    const key = arr ? String(Number(k) + arrayBase) : k;
    const flat = prefix === undefined ? key : prefix + sep + key;
    if (typeof v === 'object') {
      const e = flatten(v as object, out, sep, flat, arrayBase, depth + 1);
      if (e !== undefined) return e;
    } else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
      if (flat !== '') setValue(out, flat, v);
    }
  }
  return undefined;
}

/** Own property, also for `__proto__`. */
export function setValue(o: Record<string, RawValue>, k: string, v: RawValue): void {
  setProp(o, k, v);
}

/** A plain decimal number text → number, or undefined (no words, hex, NaN, Infinity). */
export function decimalNumber(text: string): number | undefined {
  if (!/^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
