/**
 * A one-pass scanner for the payload most sensors send: one flat JSON object whose values
 * are numbers, strings, `true`, `false` or `null` (`{"t":21.5,"n":3,"ts":1700000000}`).
 * It replaces JSON.parse plus a walk of the object it built, on the ingest and the drain
 * hot paths alike.
 *
 * It only accepts what it reads exactly as JSON.parse would, and gives up (undefined) on
 * anything else, leaving the payload to JSON.parse: nesting, escapes in keys or strings,
 * duplicate keys (JSON.parse keeps the last value at the first key's place), keys that
 * start with a digit (JSON.parse orders array-index keys first), more than MAX_KEYS keys,
 * and every syntax error. Numbers follow the JSON grammar strictly; integers up to 2^53
 * and decimals of at most 15 digits (exponent within ±22) are computed from their digits
 * exactly or with the one rounding JSON.parse makes (Clinger's fast path), the rest
 * convert with Number(), which rounds as JSON.parse does.
 *
 * The result lives in module-level scratch arrays, valid until the next call: decoding is
 * synchronous, so the caller reads them before anything else can scan.
 */

const MAX_KEYS = 32;
/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

export interface FlatObject {
  /** Keys in payload order (n of them). */
  readonly keys: readonly string[];
  readonly values: readonly (number | string | boolean | null)[];
  /**
   * A number's literal text when the double may not be all it says (more than 15 digits
   * with a fraction or an exponent, an integer beyond 2^53, a huge exponent); undefined
   * when the value is exact (integers up to 2^53 - 1) or the literal holds no more than the
   * double (at most 15 digits), and for non-numbers.
   */
  readonly literals: readonly (string | undefined)[];
  readonly n: number;
}

const keys: string[] = new Array<string>(MAX_KEYS).fill('');
const values: (number | string | boolean | null)[] = new Array<number | string | boolean | null>(MAX_KEYS).fill(null);
const literals: (string | undefined)[] = new Array<string | undefined>(MAX_KEYS).fill(undefined);
const result = { keys, values, literals, n: 0 };

function skipSpace(t: string, i: number): number {
  for (let c = t.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = t.charCodeAt(++i));
  return i;
}

/** The end of a string's characters starting at `i` (after the opening quote), at its closing quote; -1 on an escape, a control character or the end. */
function stringEnd(t: string, i: number): number {
  for (;;) {
    const c = t.charCodeAt(i);
    if (c === 34) return i;
    if (c === 92 || c < 32 || c !== c) return -1; // backslash, control character, end (NaN)
    i++;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Scans `text` as a flat JSON object, or undefined (see the module comment). */
export function scanFlatObject(text: string): FlatObject | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 123 /* { */) return undefined;
  i = skipSpace(text, i + 1);
  let n = 0;
  if (text.charCodeAt(i) === 125 /* } */) {
    i++;
  } else {
    for (;;) {
      if (n === MAX_KEYS || text.charCodeAt(i) !== 34) return undefined;
      const ks = i + 1;
      if (isDigit(text.charCodeAt(ks))) return undefined;
      const ke = stringEnd(text, ks);
      if (ke < 0) return undefined;
      // A device sends the same keys in every message: reuse the last message's key string
      // at this position when it matches (no allocation; an already internalized property key).
      const last = keys[n] as string;
      const key = last.length === ke - ks && text.startsWith(last, ks) ? last : text.slice(ks, ke);
      for (let k = 0; k < n; k++) if (keys[k] === key) return undefined;
      i = skipSpace(text, ke + 1);
      if (text.charCodeAt(i) !== 58 /* : */) return undefined;
      i = skipSpace(text, i + 1);
      const c = text.charCodeAt(i);
      let lit: string | undefined;
      let v: number | string | boolean | null;
      if (c === 34) {
        const e = stringEnd(text, i + 1);
        if (e < 0) return undefined;
        v = text.slice(i + 1, e);
        i = e + 1;
      } else if (c === 45 || isDigit(c)) {
        // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, its digits gathered as acc × 10^scale
        const s = i;
        const neg = c === 45;
        if (neg) i++;
        let acc = 0;
        let digits = 0;
        let scale = 0;
        let plain = true;
        const d0 = text.charCodeAt(i);
        if (d0 === 48) i++;
        else if (isDigit(d0)) {
          for (let d = d0; isDigit(d); d = text.charCodeAt(++i), digits++) acc = acc * 10 + (d - 48);
        } else return undefined;
        if (text.charCodeAt(i) === 46 /* . */) {
          plain = false;
          if (!isDigit(text.charCodeAt(++i))) return undefined;
          for (let d = text.charCodeAt(i); isDigit(d); d = text.charCodeAt(++i), digits++, scale--) acc = acc * 10 + (d - 48);
        }
        const e = text.charCodeAt(i);
        if (e === 101 || e === 69) {
          plain = false;
          const sign = text.charCodeAt(++i);
          if (sign === 43 || sign === 45) i++;
          if (!isDigit(text.charCodeAt(i))) return undefined;
          let x = 0;
          for (let d = text.charCodeAt(i); isDigit(d); d = text.charCodeAt(++i)) if (x < 1e6) x = x * 10 + (d - 48);
          scale += sign === 45 ? -x : x;
        }
        if (plain && acc <= Number.MAX_SAFE_INTEGER) {
          v = neg ? -acc : acc; // an integer up to 2^53 - 1: every step was exact
        } else if (!plain && digits <= 15 && scale >= -22 && scale <= 22) {
          // Clinger's fast path: both operands are exact doubles, so one rounding, as Number() does.
          const m = scale < 0 ? acc / (POW10[-scale] as number) : acc * (POW10[scale] as number);
          v = neg ? -m : m;
        } else {
          lit = text.slice(s, i);
          v = Number(lit);
        }
      } else if (c === 116 && text.startsWith('true', i)) {
        v = true;
        i += 4;
      } else if (c === 102 && text.startsWith('false', i)) {
        v = false;
        i += 5;
      } else if (c === 110 && text.startsWith('null', i)) {
        v = null;
        i += 4;
      } else {
        return undefined;
      }
      keys[n] = key;
      values[n] = v;
      literals[n] = lit;
      n++;
      i = skipSpace(text, i);
      const sep = text.charCodeAt(i);
      if (sep === 44 /* , */) {
        i = skipSpace(text, i + 1);
        continue;
      }
      if (sep !== 125 /* } */) return undefined;
      i++;
      break;
    }
  }
  if (skipSpace(text, i) !== text.length) return undefined;
  result.n = n;
  return result;
}
