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
 * and every syntax error. Numbers are read as JSON.parse reads them (json-bytes.ts).
 *
 * The result lives in module-level scratch arrays, valid until the next call: decoding is
 * synchronous, so the caller reads them before anything else can scan.
 */

import { at, bytesText, isDigit, num, readNumber, sameText, seen, skipSpace, stringEnd } from './json-bytes.js';

const MAX_KEYS = 32;

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

/** Scans bytes `[start, end)` of `b` as a flat JSON object, or undefined (see the module comment). A leading UTF-8 BOM is skipped. */
export function scanFlatObject(b: Buffer, start = 0, end = b.length): FlatObject | undefined {
  seen.high = 0;
  if (b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) {
    start += 3;
    seen.high = 3;
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
      const h = seen.high;
      const ke = stringEnd(b, ks, end);
      if (ke < 0) return undefined;
      const keyAscii = seen.high === h;
      // A device sends the same keys in every message: reuse the last message's key string
      // at this position when it matches (no allocation; an already internalized property key).
      const last = keys[n] as string;
      const key = keyAscii && last.length === ke - ks && sameText(b, ks, last) ? last : bytesText(b, ks, ke, keyAscii);
      for (let k = 0; k < n; k++) if (keys[k] === key) return undefined;
      i = skipSpace(b, ke + 1, end);
      if (at(b, i, end) !== 58 /* : */) return undefined;
      i = skipSpace(b, i + 1, end);
      const c = at(b, i, end);
      let lit: string | undefined;
      let v: number | string | boolean | null;
      if (c === 34) {
        const h = seen.high;
        const e = stringEnd(b, i + 1, end);
        if (e < 0) return undefined;
        v = bytesText(b, i + 1, e, seen.high === h);
        i = e + 1;
      } else if (c === 45 || isDigit(c)) {
        i = readNumber(b, i, end);
        if (i < 0) return undefined;
        v = num.value;
        lit = num.literal;
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
  result.ascii = seen.high === 0;
  return result;
}
