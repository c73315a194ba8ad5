/**
 * InfluxDB line protocol payloads, passed through: one reading per line.
 *
 * `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, with the
 * escaping of the InfluxDB 2.x reference: in the measurement `\,` `\ ` and `\\`; in tag
 * keys, tag values and field keys also `\=`; a backslash before anything else is a
 * literal backslash. String field values are double-quoted with `\"` and `\\` escapes and
 * may span lines. Field values: floats (`1`, `-1.5`, `1e3`), integers `12i`, unsigned
 * `12u` (both → bigint; `u` above int64 is rejected because edgeflux writes integers as
 * int64), booleans `t T true True TRUE f F false False FALSE`, strings. The timestamp is in
 * ns. Blank lines and lines starting with `#` (after spaces) are skipped; a trailing `\r`
 * is ignored. Duplicate tag keys are an error; a repeated field key keeps the last value.
 *
 * Any bad line rejects the whole payload: `invalid_line_protocol` naming the line and
 * column (1-based, in UTF-16 code units). Only comments/blank lines: `no_fields`.
 *
 * Tags: the line's own tags, then the rule's tags (topic captures and static tags) over
 * them: the topic is what the broker authenticates, so the rule wins. The measurement is
 * the rule's when it has one (`ctx.measurement`), else the line's.
 *
 * Lines without a timestamp take the arrival time. InfluxDB keeps one point per series
 * and timestamp, so when one payload holds several timestamp-less lines of the same series
 * (same measurement and final tags), the k-th repeat gets arrival time + k ns; lines of
 * different series keep the arrival time exactly.
 */
import { decodeError, type DecodeError, type FieldValue, type Reading } from '../types.js';
import { setProp } from '../util/own.js';
import { passLineProtocol } from './line-protocol-pass.js';
import { TIME_MAX_NS, TIME_MIN_NS } from './timestamps.js';
import type { DecodeContext } from './decode-context.js';

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;
const INT_RE = /^-?\d+$/;
const UINT_RE = /^\d+$/;
import { BACKSLASH, COMMA, CR, EQUALS, HASH, LF, QUOTE, SPACE, TAB } from '../util/char-codes.js';

interface Parser {
  readonly s: string;
  pos: number;
  /** Whether the last parsed line had a timestamp. */
  timed: boolean;
  err: string | undefined;
  errAt: number;
}
interface Out {
  measurement: string;
  tags: Readonly<Record<string, string>>;
  fields: Record<string, FieldValue>;
  time: bigint;
}

/**
 * The readings of a line protocol payload, or why it is rejected. Lines already in the
 * encoder's form are passed through as text (line-protocol-pass.ts); every other payload,
 * bad ones included, is parsed (`parseLineProtocol`), with the same result.
 */
export function decodeLineProtocol(text: string, ctx: DecodeContext): Reading[] | DecodeError {
  return passLineProtocol(text, ctx) ?? parseLineProtocol(text, ctx);
}

/** `decodeLineProtocol` without the pass-through: every line parsed into values. */
export function parseLineProtocol(text: string, ctx: DecodeContext): Reading[] | DecodeError {
  const p: Parser = { s: text, pos: 0, timed: false, err: undefined, errAt: 0 };
  const out: Out[] = [];
  let untimed: number[] | undefined;
  const n = text.length;
  while (p.pos < n) {
    const c = text.charCodeAt(p.pos);
    if (c === SPACE || c === TAB || c === CR || c === LF) {
      p.pos++;
      continue;
    }
    if (c === HASH) {
      const e = text.indexOf('\n', p.pos);
      p.pos = e === -1 ? n : e + 1;
      continue;
    }
    const r = parseLine(p, ctx);
    if (r === undefined) return lineError(text, p);
    if (!p.timed) (untimed ??= []).push(out.length);
    out.push(r);
  }
  if (out.length === 0) return decodeError('no_fields', 'no line protocol lines (only blank lines or comments)');
  if (untimed !== undefined && untimed.length > 1) spreadRepeats(out, untimed, ctx.receivedAt);
  return out;
}

function lineError(s: string, p: Parser): DecodeError {
  const at = Math.min(p.errAt, s.length);
  let line = 1;
  for (let i = s.indexOf('\n'); i !== -1 && i < at; i = s.indexOf('\n', i + 1)) line++;
  const col = at - (s.lastIndexOf('\n', at - 1) + 1) + 1;
  return decodeError('invalid_line_protocol', `line ${line}, column ${col}: ${p.err ?? 'invalid'}`);
}

function fail(p: Parser, at: number, msg: string): undefined {
  p.err = msg;
  p.errAt = at;
  return undefined;
}

/** Scans a name or tag value up to an unescaped stop character; returns the raw end index. */
function scanToken(s: string, i: number, stopEq: boolean): number {
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) {
      if (i + 1 < s.length && s.charCodeAt(i + 1) !== LF) i++;
      continue;
    }
    if (c === COMMA || c === SPACE || c === LF || (stopEq && c === EQUALS)) return i;
    if (c === CR && (i + 1 === s.length || s.charCodeAt(i + 1) === LF)) return i;
  }
  return i;
}

function unescape(raw: string, eq: boolean): string {
  if (!raw.includes('\\')) return raw;
  let r = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    const d = raw[i + 1];
    if (c === '\\' && (d === ',' || d === ' ' || d === '\\' || (eq && d === '='))) {
      r += d;
      i++;
    } else r += c;
  }
  return r;
}

function parseLine(p: Parser, ctx: DecodeContext): Out | undefined {
  const s = p.s;
  p.timed = false;
  const start = p.pos;
  let i = scanToken(s, start, false);
  if (i === start) return fail(p, start, 'missing measurement');
  const measurement = ctx.measurement ?? unescape(s.slice(start, i), false);
  let lineTags: Record<string, string> | undefined;
  while (s.charCodeAt(i) === COMMA) {
    const k0 = i + 1;
    const k1 = scanToken(s, k0, true);
    if (s.charCodeAt(k1) !== EQUALS) return fail(p, k1, k1 === k0 ? 'missing tag key' : `expected "=" after tag key "${s.slice(k0, k1)}"`);
    if (k1 === k0) return fail(p, k0, 'missing tag key');
    const v0 = k1 + 1;
    const v1 = scanToken(s, v0, true);
    if (v1 === v0) return fail(p, v0, `missing tag value for "${unescape(s.slice(k0, k1), true)}"`);
    if (s.charCodeAt(v1) === EQUALS) return fail(p, v1, 'unescaped "=" in tag value');
    const key = unescape(s.slice(k0, k1), true);
    lineTags ??= {};
    if (Object.hasOwn(lineTags, key)) return fail(p, k0, `duplicate tag "${key}"`);
    setProp(lineTags, key, unescape(s.slice(v0, v1), true));
    i = v1;
  }
  if (s.charCodeAt(i) !== SPACE) return fail(p, i, 'missing fields (expected a space, then field=value)');
  while (s.charCodeAt(i) === SPACE) i++;
  const fields: Record<string, FieldValue> = {};
  for (;;) {
    const k0 = i;
    const k1 = scanToken(s, k0, true);
    if (k1 === k0) return fail(p, k0, 'missing field key');
    if (s.charCodeAt(k1) !== EQUALS) return fail(p, k1, `expected "=" after field key "${s.slice(k0, k1)}"`);
    const key = unescape(s.slice(k0, k1), true);
    const v0 = k1 + 1;
    let v: FieldValue;
    if (s.charCodeAt(v0) === QUOTE) {
      let j = v0 + 1;
      let str = '';
      let from = j;
      for (;;) {
        if (j >= s.length) return fail(p, v0, `unterminated string value for field "${key}"`);
        const c = s.charCodeAt(j);
        if (c === QUOTE) break;
        if (c === BACKSLASH && (s.charCodeAt(j + 1) === QUOTE || s.charCodeAt(j + 1) === BACKSLASH)) {
          str += s.slice(from, j);
          from = j + 1;
          j += 2;
          continue;
        }
        j++;
      }
      v = str + s.slice(from, j);
      i = j + 1;
    } else {
      i = scanToken(s, v0, false);
      const tok = s.slice(v0, i);
      const fv = fieldValue(tok);
      if (typeof fv === 'object') return fail(p, v0, `field "${key}": ${fv.error}`);
      v = fv;
    }
    setProp(fields, key, v);
    const c = s.charCodeAt(i);
    if (c === COMMA) {
      i++;
      continue;
    }
    if (i < s.length && c !== SPACE && c !== LF && c !== CR) return fail(p, i, `unexpected character after the value of field "${key}"`);
    break;
  }
  while (s.charCodeAt(i) === SPACE) i++;
  let time = ctx.receivedAt;
  if (i < s.length && s.charCodeAt(i) !== LF && s.charCodeAt(i) !== CR) {
    const t0 = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === SPACE || c === LF || c === CR) break;
      i++;
    }
    const tok = s.slice(t0, i);
    if (!INT_RE.test(tok)) return fail(p, t0, `invalid timestamp "${tok.length > 40 ? tok.slice(0, 40) + '…' : tok}" (expected an integer in ns)`);
    if (tok.length > 21) return fail(p, t0, 'timestamp out of range');
    time = BigInt(tok);
    if (time < TIME_MIN_NS || time > TIME_MAX_NS) return fail(p, t0, 'timestamp out of range');
    p.timed = true;
    while (s.charCodeAt(i) === SPACE) i++;
  }
  if (s.charCodeAt(i) === CR) i++;
  if (i < s.length && s.charCodeAt(i) !== LF) return fail(p, i, 'unexpected text after the timestamp');
  p.pos = i + 1;
  let tags = ctx.tags;
  if (lineTags !== undefined) {
    for (const k of Object.keys(ctx.tags)) setProp(lineTags, k, ctx.tags[k] as string);
    tags = lineTags;
  }
  return { measurement, tags, fields, time };
}

function fieldValue(tok: string): FieldValue | { error: string } {
  if (tok === '') return { error: 'missing value' };
  const c0 = tok.charCodeAt(0);
  if (!((c0 >= 48 && c0 <= 57) || c0 === 45 /* - */ || c0 === 46 /* . */)) {
    switch (tok) {
      case 't':
      case 'T':
      case 'true':
      case 'True':
      case 'TRUE':
        return true;
      case 'f':
      case 'F':
      case 'false':
      case 'False':
      case 'FALSE':
        return false;
    }
    return { error: `invalid value "${tok.length > 40 ? tok.slice(0, 40) + '…' : tok}"` };
  }
  const last = tok.charCodeAt(tok.length - 1);
  if (last === 105 /* i */) {
    const body = tok.slice(0, -1);
    if (!INT_RE.test(body)) return { error: `invalid integer "${tok}"` };
    const v = body.length > 21 ? INT64_MAX + 1n : BigInt(body);
    return v < INT64_MIN || v > INT64_MAX ? { error: `integer ${tok} is outside the int64 range` } : v;
  }
  if (last === 117 /* u */) {
    const body = tok.slice(0, -1);
    if (!UINT_RE.test(body)) return { error: `invalid unsigned integer "${tok}"` };
    const v = body.length > 21 ? INT64_MAX + 1n : BigInt(body);
    return v > INT64_MAX ? { error: `unsigned ${tok} is above the int64 range (edgeflux writes integers as int64)` } : v;
  }
  if (!isFloat(tok)) return { error: `invalid value "${tok.length > 40 ? tok.slice(0, 40) + '…' : tok}"` };
  const v = Number(tok);
  return Number.isFinite(v) ? v : { error: `float ${tok} is outside the float64 range` };
}

/** `-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?` without a regex (the hot path of line protocol). */
function isFloat(t: string): boolean {
  const n = t.length;
  let i = t.charCodeAt(0) === 45 ? 1 : 0;
  let digits = 0;
  while (i < n && isDigit(t.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && t.charCodeAt(i) === 46) {
    i++;
    while (i < n && isDigit(t.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  if (i < n && (t.charCodeAt(i) | 32) === 101 /* e */) {
    i++;
    if (i < n && (t.charCodeAt(i) === 43 || t.charCodeAt(i) === 45)) i++;
    const e0 = i;
    while (i < n && isDigit(t.charCodeAt(i))) i++;
    if (i === e0) return false;
  }
  return i === n;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Gives the k-th repeat of a series among timestamp-less lines arrival time + k ns. */
function spreadRepeats(out: Out[], untimed: readonly number[], receivedAt: bigint): void {
  const seen = new Map<string, number>();
  for (const idx of untimed) {
    const r = out[idx] as Out;
    let key = r.measurement;
    for (const k of Object.keys(r.tags).sort()) key += '\u0000' + k + '\u0000' + (r.tags[k] as string);
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    if (k > 0) r.time = receivedAt + BigInt(k);
  }
}
