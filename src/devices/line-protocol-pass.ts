/**
 * Line protocol passed through as text: the fast path of `decodeLineProtocol`.
 *
 * A line whose field set is already written the way the sink's encoder would write it
 * (line-protocol.ts) needs no parse into values and no encoding back: `passLineProtocol`
 * checks it with a scanner that builds no objects per field, and the reading it returns
 * (`LineReading`) carries the field set as text; the encoder writes that text after the
 * series (measurement and tags, which it encodes as for any reading). Its `fields` are
 * parsed from the text only when something reads them (a shaping operator, `edgeflux
 * tail`, the status page).
 *
 * The guarantees are the parse path's, because the scanner accepts only what the parse
 * path would accept and encode to the same text, and answers `undefined` (the parse path
 * decides) for everything else, bad lines included: those are rejected there with their
 * line and column, as before. Accepted, per line:
 * - measurement and tags without a backslash or CR anywhere in the payload (no escapes to
 *   undo); the tags are parsed (and merged with the rule's, which win) once per topic and
 *   tag text, and the merged object is frozen and shared, so the encoder's series cache
 *   (keyed by the tags object) encodes the series once;
 * - fields: keys not starting with a digit (a JavaScript object puts integer-like keys
 *   first, so the encoder would reorder them) and not repeated in the line; values
 *   `true`/`false`, integers `-?(0|[1-9]\d{0,17})i` (inside int64), strings without a
 *   backslash or newline, and floats in the shortest form `String(v)` gives: no exponent,
 *   no `+`, no leading zeros, no trailing zeros after the point, at most 15 digits (a
 *   decimal of at most 15 significant digits is the shortest text of its double), not
 *   below 1e-6 and not `-0`;
 * - timestamps `0` or `[1-9]\d*` within the decoder's range; a payload with more than
 *   one line needs one on every line (repeats of a timestamp-less series get arrival
 *   time + k ns on the parse path).
 * A test compares both paths over generated and hostile payloads (test/unit/line-protocol-pass.test.ts).
 */
import type { FieldValue, Reading } from '../types.js';
import { setProp } from '../util/own.js';
import type { DecodeContext } from './decode-context.js';

import { COMMA, DIGIT_0, DIGIT_9, DOT, EQUALS, HASH, LF, MINUS, QUOTE, SPACE, TAB } from '../util/char-codes.js';

/** The largest timestamp the decoder takes (timestamps.ts TIME_MAX_NS), as text. */
const TIME_MAX_TEXT = '9223372036854775806';

/**
 * A reading decoded from a line of line protocol, which the encoder writes from its text.
 * It looks like any other reading: `measurement`, `tags`, `time` and `fields` are its own
 * enumerable properties (a spread `{ ...r }` or a deep comparison sees all four), `fields`
 * an accessor that parses the field text on first use; the text is kept in private fields.
 */
export class LineReading implements Reading {
  declare readonly fields: Readonly<Record<string, FieldValue>>;
  readonly #fieldText: string;
  readonly #timeText: string | undefined;
  #parsed: Readonly<Record<string, FieldValue>> | undefined;

  constructor(
    readonly measurement: string,
    readonly tags: Readonly<Record<string, string>>,
    readonly time: bigint,
    fieldText: string,
    timeText: string | undefined,
  ) {
    this.#fieldText = fieldText;
    this.#timeText = timeText;
    Object.defineProperty(this, 'fields', FIELDS);
  }

  /** The field set as written in the line (`key=value[,key=value...]`), already in the encoder's form. */
  get fieldText(): string {
    return this.#fieldText;
  }

  /** The timestamp as written in the line (`time` in decimal), undefined when the line had none. */
  get timeText(): string | undefined {
    return this.#timeText;
  }

  /** The fields, parsed from the text once. */
  parsedFields(): Readonly<Record<string, FieldValue>> {
    return (this.#parsed ??= readFieldText(this.#fieldText));
  }
}

/** One descriptor (one getter) for every LineReading, so that V8 gives them all one shape. */
const FIELDS: PropertyDescriptor = {
  enumerable: true,
  configurable: false,
  get(this: LineReading) {
    return this.parsedFields();
  },
};

/** Per rule tags object (frozen, from the topic cache): the merged tags of each line tag text seen, and the last one used. */
interface TopicTags {
  readonly byText: Map<string, Readonly<Record<string, string>>>;
  lastText: string;
  last: Readonly<Record<string, string>>;
}
const mergedTags = new WeakMap<object, TopicTags>();
/** Tag texts remembered per topic; a topic whose lines carry more distinct tag sets gets fresh objects for the rest. */
const MAX_TAG_TEXTS = 64;

/**
 * The readings of `text` as `LineReading`s when every line is in the encoder's form (see
 * the module comment); undefined when any is not, or is not valid: the parse path decides.
 */
export function passLineProtocol(text: string, ctx: DecodeContext): LineReading[] | undefined {
  if (text.indexOf('\\') !== -1 || text.indexOf('\r') !== -1) return undefined;
  const out: LineReading[] = [];
  let untimed = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB || c === LF) {
      i++;
      continue;
    }
    if (c === HASH) {
      const e = text.indexOf('\n', i);
      i = e === -1 ? n : e + 1;
      continue;
    }
    const end = passLine(text, i, ctx, out);
    if (end < 0) return undefined;
    if ((out[out.length - 1] as LineReading).timeText === undefined) untimed = true;
    i = end;
  }
  if (out.length === 0 || (untimed && out.length > 1)) return undefined;
  return out;
}

/** Scans one line from `start`; pushes its reading and returns the index after its newline, or -1. */
function passLine(s: string, start: number, ctx: DecodeContext, out: LineReading[]): number {
  const n = s.length;
  let i = start;
  // measurement: up to an unescaped `,` or space (the payload has no backslash)
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === LF) break;
  }
  if (i === start || i === n) return -1;
  const m1 = i;
  let tags = ctx.tags;
  if (s.charCodeAt(i) === COMMA) {
    const t0 = i;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === SPACE || c === LF) break;
    }
    const merged = tagsOf(s, t0, i, ctx.tags);
    if (merged === undefined) return -1;
    tags = merged;
  }
  if (s.charCodeAt(i) !== SPACE) return -1;
  while (s.charCodeAt(i) === SPACE) i++;
  const f0 = i;
  let nKeys = 0;
  for (;;) {
    const k0 = i;
    const k = s.charCodeAt(i);
    if (k >= DIGIT_0 && k <= DIGIT_9) return -1; // an integer-like key would be reordered by the encoder
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === EQUALS || c === COMMA || c === SPACE || c === LF) break;
    }
    if (i === k0 || s.charCodeAt(i) !== EQUALS) return -1;
    // A repeated key: the parse path keeps the last value at the first place.
    if (nKeys === MAX_KEYS || repeated(s, k0, i, nKeys)) return -1;
    keyAt[2 * nKeys] = k0;
    keyAt[2 * nKeys + 1] = i;
    nKeys++;
    i = s.charCodeAt(i + 1) === QUOTE ? stringEnd(s, i + 2) : valueEnd(s, i + 1);
    if (i < 0) return -1;
    const c = s.charCodeAt(i);
    if (c === COMMA) {
      i++;
      continue;
    }
    if (i < n && c !== SPACE && c !== LF) return -1;
    break;
  }
  const fieldText = s.slice(f0, i);
  while (s.charCodeAt(i) === SPACE) i++;
  let timeText: string | undefined;
  let time = ctx.receivedAt;
  if (i < n && s.charCodeAt(i) !== LF) {
    const t0 = i;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < DIGIT_0 || c > DIGIT_9) break;
    }
    const len = i - t0;
    if (len === 0 || (len > 1 && s.charCodeAt(t0) === DIGIT_0) || len > 19) return -1;
    timeText = s.slice(t0, i);
    if (len === 19 && timeText > TIME_MAX_TEXT) return -1;
    time = BigInt(timeText);
    while (s.charCodeAt(i) === SPACE) i++;
  }
  if (i < n && s.charCodeAt(i) !== LF) return -1;
  out.push(new LineReading(ctx.measurement ?? s.slice(start, m1), tags, time, fieldText, timeText));
  return i + 1;
}

/** Where the keys of the line being scanned start and end (no array per line). */
const MAX_KEYS = 64;
const keyAt = new Int32Array(2 * MAX_KEYS);

/** Whether the key `s[k0, k1)` is one of the first `n` keys in `keyAt`. */
function repeated(s: string, k0: number, k1: number, n: number): boolean {
  const len = k1 - k0;
  for (let j = 0; j < n; j++) {
    const a = keyAt[2 * j] as number;
    if ((keyAt[2 * j + 1] as number) - a === len && s.startsWith(s.slice(k0, k1), a)) return true;
  }
  return false;
}

/** After the closing quote of a string value starting at `i` (past the opening quote); -1 when it has a newline or no end. */
function stringEnd(s: string, i: number): number {
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c === LF) return -1; // written as `\n` by the encoder: not the same text
  }
  return -1;
}

/** After an unquoted value starting at `i` that is in the encoder's form; -1 otherwise. */
function valueEnd(s: string, i: number): number {
  const n = s.length;
  const v0 = i;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === LF) break;
  }
  const len = i - v0;
  if (len === 0) return -1;
  const first = s.charCodeAt(v0);
  if (first === 116 /* t */) return len === 4 && s.startsWith('true', v0) ? i : -1;
  if (first === 102 /* f */) return len === 5 && s.startsWith('false', v0) ? i : -1;
  if (s.charCodeAt(i - 1) === 105 /* i */) return isCanonicalInteger(s, v0, i - 1) ? i : -1;
  return isCanonicalFloat(s, v0, i) ? i : -1;
}

/** `-?(0|[1-9]\d{0,17})` but not `-0`: BigInt gives the same text back, inside int64. */
function isCanonicalInteger(s: string, a: number, b: number): boolean {
  if (s.charCodeAt(a) === MINUS) a++;
  const len = b - a;
  if (len === 0 || len > 18) return false;
  if (s.charCodeAt(a) === DIGIT_0) return len === 1 && s.charCodeAt(a - 1) !== MINUS;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  return true;
}

/**
 * Whether `String(Number(text))` is `text` (the encoder's float form), for text of the
 * shape `-?(0|[1-9]\d*)(\.\d*[1-9])?` with at most 15 digits (not counting a leading `0`)
 * and at most 5 zeros after `0.`, other than `-0`.
 */
export function isCanonicalFloat(s: string, a: number, b: number): boolean {
  const neg = s.charCodeAt(a) === MINUS;
  if (neg) a++;
  if (a >= b) return false;
  let i = a;
  let digits = 0;
  const zeroInt = s.charCodeAt(i) === DIGIT_0;
  if (zeroInt) i++;
  else {
    for (; i < b; i++) {
      const c = s.charCodeAt(i);
      if (c < DIGIT_0 || c > DIGIT_9) break;
      digits++;
    }
    if (digits === 0) return false;
  }
  if (i === b) return !(zeroInt && neg) && digits <= 15;
  if (s.charCodeAt(i) !== DOT) return false;
  i++;
  const f0 = i;
  let leadingZeros = 0;
  for (; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
    if (zeroInt && digits === 0 && c === DIGIT_0) leadingZeros++;
    else digits++;
  }
  if (i === f0 || s.charCodeAt(b - 1) === DIGIT_0) return false;
  return digits <= 15 && leadingZeros <= 5;
}

/** The line's tags (`s[a, b)`: `,k=v...`, no backslash) with the rule's over them, or undefined when the parse path would reject them. */
function tagsOf(s: string, a: number, b: number, ruleTags: Readonly<Record<string, string>>): Readonly<Record<string, string>> | undefined {
  const frozen = Object.isFrozen(ruleTags);
  const known = frozen ? mergedTags.get(ruleTags) : undefined;
  // A device sends the same tags line after line: compared in place, no slice.
  if (known !== undefined && known.lastText.length === b - a && s.startsWith(known.lastText, a)) return known.last;
  const text = s.slice(a, b);
  const hit = known?.byText.get(text);
  if (hit !== undefined) {
    (known as TopicTags).lastText = text;
    (known as TopicTags).last = hit;
    return hit;
  }
  const tags: Record<string, string> = {};
  for (const pair of text.slice(1).split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1 || pair.indexOf('=', eq + 1) !== -1) return undefined;
    const key = pair.slice(0, eq);
    if (Object.hasOwn(tags, key)) return undefined;
    setProp(tags, key, pair.slice(eq + 1));
  }
  for (const k of Object.keys(ruleTags)) setProp(tags, k, ruleTags[k] as string);
  if (!frozen) return tags;
  const merged = Object.freeze(tags);
  if (known === undefined) mergedTags.set(ruleTags, { byText: new Map([[text, merged]]), lastText: text, last: merged });
  else {
    if (known.byText.size < MAX_TAG_TEXTS) known.byText.set(text, merged);
    known.lastText = text;
    known.last = merged;
  }
  return merged;
}

/** The fields of a field set `passLine` accepted. */
function readFieldText(t: string): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  let i = 0;
  while (i < t.length) {
    const eq = t.indexOf('=', i);
    const key = t.slice(i, eq);
    let v: FieldValue;
    let end: number;
    if (t.charCodeAt(eq + 1) === QUOTE) {
      end = t.indexOf('"', eq + 2) + 1;
      v = t.slice(eq + 2, end - 1);
    } else {
      end = t.indexOf(',', eq + 1);
      if (end === -1) end = t.length;
      const tok = t.slice(eq + 1, end);
      v = tok === 'true' ? true : tok === 'false' ? false : tok.charCodeAt(tok.length - 1) === 105 ? BigInt(tok.slice(0, -1)) : Number(tok);
    }
    setProp(fields, key, v);
    i = end + 1;
  }
  return fields;
}
