/**
 * Byte-level pieces of the flat JSON scanner (flat-json.ts): whitespace, strings
 * without escapes, and numbers read exactly as JSON.parse reads them. They read a payload's
 * bytes, not a string, and give up (-1) on anything they do not read exactly as JSON.parse
 * would, leaving the payload to it.
 *
 * Numbers follow the JSON grammar strictly; integers up to 2^53 and decimals of at most 15
 * digits (exponent within ±22) are computed from their digits exactly or with the one
 * rounding JSON.parse makes (Clinger's fast path), the rest convert with Number(), which
 * rounds as JSON.parse does.
 */

/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** What the last `readNumber` read (module scratch: decoding is synchronous). */
export const num = {
  value: 0,
  /**
   * The literal's text when the double may not be all it says (more than 15 digits with a
   * fraction or an exponent, an integer beyond 2^53, a huge exponent); else undefined.
   */
  literal: undefined as string | undefined,
};

/** Bytes beyond ASCII that `stringEnd` met since the caller last reset it. */
export const seen = { high: 0 };

export function skipSpace(b: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = b[i] as number;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    i++;
  }
  return i;
}

/** A byte past the end reads as -1, which no check accepts. */
export function at(b: Buffer, i: number, end: number): number {
  return i < end ? (b[i] as number) : -1;
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * The end of a string's bytes starting at `i` (after the opening quote), at its closing
 * quote; -1 on an escape, a control character or the end. Counts bytes beyond ASCII in `seen.high`.
 */
export function stringEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c === 34) return i;
    if (c === 92 || c < 32) return -1; // backslash, control character
    if (c >= 128) seen.high++;
  }
  return -1;
}

/** The text of bytes `[s, e)` of a string or key (decoded as UTF-8 only when not ASCII). */
export function bytesText(b: Buffer, s: number, e: number, ascii: boolean): string {
  return b.toString(ascii ? 'latin1' : 'utf8', s, e);
}

/** Whether bytes `[s, s + k.length)` are the ASCII text `k` (the caller checked the length). */
export function sameText(b: Buffer, s: number, k: string): boolean {
  for (let j = 0; j < k.length; j++) if (b[s + j] !== k.charCodeAt(j)) return false;
  return true;
}

/**
 * Reads the number starting at `i` (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`) into
 * `num`; returns the index after it, or -1 when the bytes there are not a JSON number.
 */
export function readNumber(b: Buffer, i: number, end: number): number {
  const s = i;
  const neg = at(b, i, end) === 45;
  if (neg) i++;
  let acc = 0;
  let digits = 0;
  let scale = 0;
  let plain = true;
  const d0 = at(b, i, end);
  if (d0 === 48) i++;
  else if (isDigit(d0)) {
    for (let d = d0; isDigit(d); d = at(b, ++i, end), digits++) acc = acc * 10 + (d - 48);
  } else return -1;
  if (at(b, i, end) === 46 /* . */) {
    plain = false;
    if (!isDigit(at(b, ++i, end))) return -1;
    for (let d = at(b, i, end); isDigit(d); d = at(b, ++i, end), digits++, scale--) acc = acc * 10 + (d - 48);
  }
  const e = at(b, i, end);
  if (e === 101 || e === 69) {
    plain = false;
    const sign = at(b, ++i, end);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(at(b, i, end))) return -1;
    let x = 0;
    for (let d = at(b, i, end); isDigit(d); d = at(b, ++i, end)) if (x < 1e6) x = x * 10 + (d - 48);
    scale += sign === 45 ? -x : x;
  }
  num.literal = undefined;
  if (plain && acc <= Number.MAX_SAFE_INTEGER) {
    num.value = neg ? -acc : acc; // an integer up to 2^53 - 1: every step was exact
  } else if (!plain && digits <= 15 && scale >= -22 && scale <= 22) {
    // Clinger's fast path: both operands are exact doubles, so one rounding, as Number() does.
    const m = scale < 0 ? acc / (POW10[-scale] as number) : acc * (POW10[scale] as number);
    num.value = neg ? -m : m;
  } else {
    num.literal = b.toString('latin1', s, i);
    num.value = Number(num.literal);
  }
  return i;
}
