/**
 * InfluxDB line protocol encoding of one reading: the sink's hot path.
 *
 *   measurement[,tag=value...] field=value[,field=value...] timestamp
 *
 * Escaping, per the line protocol reference and as InfluxDB's own parser reads it
 * (checked by round trip against influxd 1.6.7, test/integration/influx-writer.test.ts):
 * - measurement: `,` and space are escaped with a backslash;
 * - tag keys, tag values and field keys: `,`, `=` and space are escaped;
 * - string field values are double-quoted; `"` and `\` inside are escaped;
 * - a backslash elsewhere is a literal backslash and is written as is. InfluxDB has no
 *   escape for a backslash in names: one at the end of a name, key or tag value, or
 *   right before `,` `=` or space, would make the parser read the next delimiter as
 *   escaped (influxd 1.x answers "invalid tag format" or splits the name in the wrong
 *   place), so such backslashes are removed (as Telegraf does);
 * - line protocol has no newline inside any element (not even string fields, per the
 *   reference), so CR and LF are written as the two characters `\r` and `\n`: the line
 *   never breaks and the reading is kept, though the stored text shows `\n` where the
 *   newline was (a string field's own `\n` text then reads the same);
 * - a measurement starting with `#` is written as `\#…`: a line starting with `#` is a
 *   comment that InfluxDB would silently ignore;
 * - leading tabs of a measurement are dropped: parsers skip whitespace at the start of a
 *   line and a tab has no escape (a leading space is escaped as any space);
 * - two tag keys that escape to the same text (`a,b` and `a\,b` both give `a\,b`, the
 *   backslash being unrepresentable) would make InfluxDB refuse the line for duplicate
 *   tags: the first in key order is kept, the other left out.
 * Types: `number` → float (shortest round-trip text, e.g. `1`, `1.5`, `1e+300`; NaN and
 * ±Infinity are skipped), `bigint` → integer with `i` suffix (outside int64: skipped),
 * `boolean` → `true`/`false`, `string` → quoted string.
 * Tags are sorted by key (UTF-8 byte order, what InfluxDB's series keys use); tags with
 * an empty key or value are omitted. Fields keep their order. The timestamp is
 * `reading.time` in ns. Returns null when the measurement is empty or no field remains.
 */
import type { Reading } from '../types.js';
import { LineReading } from '../devices/line-protocol-pass.js';

import { BACKSLASH, COMMA, CR, EQUALS, HASH, LF, QUOTE, SPACE, TAB } from '../util/char-codes.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Characters that may need work in a measurement (`key` false) or a key/tag value (`key` true). */
function isClean(s: string, key: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= EQUALS) {
      if (c === COMMA || c === SPACE || c === LF || c === CR || (key && c === EQUALS)) return false;
    } else if (c === BACKSLASH) {
      return false;
    }
  }
  return true;
}

function isSpecial(c: number, key: boolean): boolean {
  return c === COMMA || c === SPACE || (key && c === EQUALS);
}

/** Escapes a measurement (`key` false) or a tag key, tag value or field key (`key` true). */
export function escapeName(s: string, key: boolean): string {
  if (isClean(s, key)) return s;
  let out = '';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let rep: string;
    if (c === BACKSLASH) {
      let j = i + 1;
      while (j < n && s.charCodeAt(j) === BACKSLASH) j++;
      if (j === n || isSpecial(s.charCodeAt(j), key)) {
        // A backslash run before a delimiter or the end cannot be represented: drop it.
        out += s.slice(from, i);
        from = j;
      }
      i = j - 1;
      continue;
    } else if (c === COMMA) rep = '\\,';
    else if (c === SPACE) rep = '\\ ';
    else if (c === EQUALS && key) rep = '\\=';
    else if (c === LF) rep = '\\n';
    else if (c === CR) rep = '\\r';
    else continue;
    out += s.slice(from, i) + rep;
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

function escapeMeasurement(s: string): string {
  let from = 0;
  while (s.charCodeAt(from) === TAB) from++;
  const e = escapeName(from === 0 ? s : s.slice(from), false);
  return e.charCodeAt(0) === HASH ? '\\' + e : e;
}

/** Quotes a string field value: `"` and `\` escaped, CR/LF written as `\r`/`\n`. */
export function quoteString(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH || c === LF || c === CR) {
      clean = false;
      break;
    }
  }
  if (clean) return '"' + s + '"';
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string;
    if (c === QUOTE) rep = '\\"';
    else if (c === BACKSLASH) rep = '\\\\';
    else if (c === LF) rep = '\\n';
    else if (c === CR) rep = '\\r';
    else continue;
    out += s.slice(from, i) + rep;
    from = i + 1;
  }
  return out + s.slice(from) + '"';
}

/**
 * Compares two strings in UTF-8 byte order (= code point order). UTF-16 code unit order
 * differs only when one side has a surrogate (U+D800–DFFF) and the other U+E000–FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

function encodeFields(fields: Reading['fields']): string {
  let out = '';
  // for-in rather than Object.keys: no array per reading. Decoders build fields as plain
  // objects (own, enumerable keys only), so both visit the same keys in the same order.
  for (const k in fields) {
    const v = fields[k];
    let text: string;
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) continue;
        text = String(v); // shortest round-trip text; a number stays a float field (no `i`)
        break;
      case 'bigint':
        if (v < INT64_MIN || v > INT64_MAX) continue;
        text = v.toString() + 'i';
        break;
      case 'boolean':
        text = v ? 'true' : 'false';
        break;
      case 'string':
        text = quoteString(v);
        break;
      default:
        continue;
    }
    const key = escapeName(k, true);
    if (key === '') continue;
    out += (out === '' ? '' : ',') + key + '=' + text;
  }
  return out;
}

function encodeTags(tags: Reading['tags']): string {
  const keys = Object.keys(tags);
  if (keys.length === 0) return '';
  if (keys.length > 1) keys.sort(compareUtf8);
  let out = '';
  const written: string[] = [];
  for (const k of keys) {
    const v = tags[k];
    if (typeof v !== 'string' || v === '' || k === '') continue;
    const ek = escapeName(k, true);
    const ev = escapeName(v, true);
    if (ek === '' || ev === '') continue;
    if (written.includes(ek)) continue; // escaped alike (see the module comment)
    written.push(ek);
    out += ',' + ek + '=' + ev;
  }
  return out;
}

/**
 * The encoded `measurement[,tags]` of frozen tags objects (the topic rules hand every
 * message on a topic the same frozen object): the sort and escaping run once per series,
 * not per reading. Weak, so a series the rules forget is let go; fresh (unfrozen) tags
 * objects are encoded every time and never kept.
 */
const seriesCache = new WeakMap<object, { readonly measurement: string; readonly text: string }>();

/**
 * `s` as one flat string. A string built by `+` is a tree of its pieces (V8 cons strings,
 * ~200 B for a 35-character series text instead of ~60 B flat), and it stays one in the
 * cache; copying it through UTF-16 once, when a series is first encoded, gives a flat copy
 * (any string, lone surrogates too, comes back the same).
 */
function flat(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}

function encodeSeries(measurement: string, tags: Reading['tags']): string {
  const frozen = Object.isFrozen(tags);
  const hit = frozen ? seriesCache.get(tags) : undefined;
  if (hit !== undefined && hit.measurement === measurement) return hit.text;
  const m = escapeMeasurement(measurement);
  const text = m === '' ? '' : m + encodeTags(tags);
  // Flattened for a new series only: tags whose measurement changes from reading to reading would copy it every time.
  if (frozen) seriesCache.set(tags, { measurement, text: hit === undefined ? flat(text) : text });
  return text;
}

/** One line of line protocol for `r` (no trailing newline), or null when nothing can be written. */
export function encodeLine(r: Reading): string | null {
  if (r instanceof LineReading) {
    // Its field set and timestamp are already written as encodeFields would (line-protocol-pass.ts).
    const series = encodeSeries(r.measurement, r.tags);
    return series === '' ? null : series + ' ' + r.fieldText + ' ' + (r.timeText ?? r.time.toString());
  }
  const fields = encodeFields(r.fields);
  if (fields === '') return null;
  const series = encodeSeries(r.measurement, r.tags);
  if (series === '') return null;
  return series + ' ' + fields + ' ' + r.time.toString();
}
