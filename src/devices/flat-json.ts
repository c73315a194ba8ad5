/**
 * A one-pass scanner for the payload most sensors send: one flat JSON object whose values
 * are numbers, strings, `true`, `false` or `null` (`{"t":21.5,"n":3,"ts":1700000000}`).
 * It replaces JSON.parse plus a walk of the object it built, on the ingest and the drain
 * hot paths alike. It reads the payload's bytes, not a string: no text is made for the
 * payload (only for its keys, which are reused from the last message, and string values),
 * and a byte is cheaper to read than a character. Keys and strings with bytes beyond ASCII
 * are decoded as UTF-8, and the result says so (`ascii` false): the caller must then check
 * that the whole payload is valid UTF-8.
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
  /** False when a key or string held bytes beyond ASCII (or the payload began with a BOM): the caller checks the payload is valid UTF-8. */
  readonly ascii: boolean;
}

const keys: string[] = new Array<string>(MAX_KEYS).fill('');
const values: (number | string | boolean | null)[] = new Array<number | string | boolean | null>(MAX_KEYS).fill(null);
const literals: (string | undefined)[] = new Array<string | undefined>(MAX_KEYS).fill(undefined);
const result = { keys, values, literals, n: 0, ascii: true };
/** Bytes beyond ASCII that `stringEnd` met in this scan. */
let high = 0;

function skipSpace(b: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = b[i] as number;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    i++;
  }
  return i;
}

/** A byte past the end reads as -1, which no check below accepts. */
function at(b: Buffer, i: number, end: number): number {
  return i < end ? (b[i] as number) : -1;
}

/**
 * The end of a string's bytes starting at `i` (after the opening quote), at its closing
 * quote; -1 on an escape, a control character or the end. Counts bytes beyond ASCII in `high`.
 */
function stringEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c === 34) return i;
    if (c === 92 || c < 32) return -1; // backslash, control character
    if (c >= 128) high++;
  }
  return -1;
}

/** The text of bytes `[s, e)` of a string or key (decoded as UTF-8 only when not ASCII). */
function text(b: Buffer, s: number, e: number, ascii: boolean): string {
  return b.toString(ascii ? 'latin1' : 'utf8', s, e);
}

/** Whether bytes `[s, s + k.length)` are the ASCII key `k`. */
function sameKey(b: Buffer, s: number, k: string): boolean {
  for (let j = 0; j < k.length; j++) if (b[s + j] !== k.charCodeAt(j)) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Scans bytes `[start, end)` of `b` as a flat JSON object, or undefined (see the module comment). A leading UTF-8 BOM is skipped. */
export function scanFlatObject(b: Buffer, start = 0, end = b.length): FlatObject | undefined {
  high = 0;
  if (b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) {
    start += 3;
    high = 3;
  }
  let i = skipSpace(b, start, end);
  if (at(b, i, end) !== 123 /* { */) return undefined;
  i = skipSpace(b, i + 1, end);
  let n = 0;
  if (at(b, i, end) === 125 /* } */) {
    i++;
  } else {
    for (;;) {
      if (n === MAX_KEYS || at(b, i, end) !== 34) return undefined;
      const ks = i + 1;
      if (isDigit(at(b, ks, end))) return undefined;
      const h = high;
      const ke = stringEnd(b, ks, end);
      if (ke < 0) return undefined;
      const keyAscii = high === h;
      // A device sends the same keys in every message: reuse the last message's key string
      // at this position when it matches (no allocation; an already internalized property key).
      const last = keys[n] as string;
      const key = keyAscii && last.length === ke - ks && sameKey(b, ks, last) ? last : text(b, ks, ke, keyAscii);
      for (let k = 0; k < n; k++) if (keys[k] === key) return undefined;
      i = skipSpace(b, ke + 1, end);
      if (at(b, i, end) !== 58 /* : */) return undefined;
      i = skipSpace(b, i + 1, end);
      const c = at(b, i, end);
      let lit: string | undefined;
      let v: number | string | boolean | null;
      if (c === 34) {
        const h = high;
        const e = stringEnd(b, i + 1, end);
        if (e < 0) return undefined;
        v = text(b, i + 1, e, high === h);
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
        const d0 = at(b, i, end);
        if (d0 === 48) i++;
        else if (isDigit(d0)) {
          for (let d = d0; isDigit(d); d = at(b, ++i, end), digits++) acc = acc * 10 + (d - 48);
        } else return undefined;
        if (at(b, i, end) === 46 /* . */) {
          plain = false;
          if (!isDigit(at(b, ++i, end))) return undefined;
          for (let d = at(b, i, end); isDigit(d); d = at(b, ++i, end), digits++, scale--) acc = acc * 10 + (d - 48);
        }
        const e = at(b, i, end);
        if (e === 101 || e === 69) {
          plain = false;
          const sign = at(b, ++i, end);
          if (sign === 43 || sign === 45) i++;
          if (!isDigit(at(b, i, end))) return undefined;
          let x = 0;
          for (let d = at(b, i, end); isDigit(d); d = at(b, ++i, end)) if (x < 1e6) x = x * 10 + (d - 48);
          scale += sign === 45 ? -x : x;
        }
        if (plain && acc <= Number.MAX_SAFE_INTEGER) {
          v = neg ? -acc : acc; // an integer up to 2^53 - 1: every step was exact
        } else if (!plain && digits <= 15 && scale >= -22 && scale <= 22) {
          // Clinger's fast path: both operands are exact doubles, so one rounding, as Number() does.
          const m = scale < 0 ? acc / (POW10[-scale] as number) : acc * (POW10[scale] as number);
          v = neg ? -m : m;
        } else {
          lit = b.toString('latin1', s, i);
          v = Number(lit);
        }
      } else if (c === 116 && at(b, i + 1, end) === 114 && at(b, i + 2, end) === 117 && at(b, i + 3, end) === 101) {
        v = true; // true
        i += 4;
      } else if (c === 102 && at(b, i + 1, end) === 97 && at(b, i + 2, end) === 108 && at(b, i + 3, end) === 115 && at(b, i + 4, end) === 101) {
        v = false; // false
        i += 5;
      } else if (c === 110 && at(b, i + 1, end) === 117 && at(b, i + 2, end) === 108 && at(b, i + 3, end) === 108) {
        v = null; // null
        i += 4;
      } else {
        return undefined;
      }
      keys[n] = key;
      values[n] = v;
      literals[n] = lit;
      n++;
      i = skipSpace(b, i, end);
      const sep = at(b, i, end);
      if (sep === 44 /* , */) {
        i = skipSpace(b, i + 1, end);
        continue;
      }
      if (sep !== 125 /* } */) return undefined;
      i++;
      break;
    }
  }
  if (skipSpace(b, i, end) !== end) return undefined;
  result.n = n;
  result.ascii = high === 0;
  return result;
}
