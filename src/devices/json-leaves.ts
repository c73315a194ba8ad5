/**
 * A one-pass scanner for nested JSON objects (Tasmota's `{"Time":…,"ENERGY":{…},"AM2301":{…}}`)
 * that gives what JSON.parse plus a flatten would give, without building the objects: the
 * top-level entries in payload order and, below each top-level object or array, its
 * leaves (numbers, strings, booleans; nulls left out) under flattened names.
 *
 * Names, as Tasmota's decoder flattens (profiles/decoders/tasmota.ts): below a top-level
 * object, relative to it (`{"ENERGY":{"Total":1,"Phase":{"L1":2}}}` → `Total`, `Phase_L1`);
 * below a top-level array, with the key first (`{"Power":[3,5]}` → `Power_1`, `Power_2`);
 * keys joined with `sep`, array elements named by index + `arrayBase`.
 *
 * It gives up (undefined) on whatever it does not read exactly as JSON.parse plus
 * Object.entries would, leaving the payload to them: escapes in keys or strings, duplicate
 * keys in an object (JSON.parse keeps the last value at the first key's place), keys that
 * start with a digit (an object lists array-index keys first), nesting deeper than
 * MAX_DEPTH, more than MAX_TOP entries, MAX_LEAVES leaves or MAX_OBJECT_KEYS keys in one
 * object, and every syntax error. Numbers are read as JSON.parse reads them (json-bytes.ts).
 *
 * Allocation: a device sends the same shape in every message, so the key, name and string
 * texts at each position are kept from the last message and reused when their bytes (for
 * names: their parts) are the same; a message of the same shape as the last one allocates
 * no strings but the string values that changed.
 */
import { at, bytesText, isDigit, num, readNumber, sameText, seen, skipSpace, stringEnd } from './json-bytes.js';

const MAX_DEPTH = 16;
const MAX_TOP = 64;
const MAX_LEAVES = 256;
const MAX_OBJECT_KEYS = 64;

export type LeafValue = number | string | boolean;

/** What a top-level value is. */
export const TopKind = { Scalar: 0, Object: 1, Array: 2, Null: 3 } as const;
export type TopKind = (typeof TopKind)[keyof typeof TopKind];

export class JsonLeafScanner {
  /** Top-level keys, their kinds and (scalars) values, in payload order; `nTop` of them. */
  readonly topKeys: string[] = [];
  readonly topKinds: TopKind[] = [];
  readonly topValues: (LeafValue | null)[] = [];
  nTop = 0;
  /** Leaves below top-level containers, in payload order: their top-level entry, name and value; `nLeaves` of them. */
  readonly leafTop: number[] = [];
  readonly leafNames: string[] = [];
  readonly leafValues: LeafValue[] = [];
  nLeaves = 0;
  /** False when a key or string held bytes beyond ASCII (or a BOM): the caller checks the payload is valid UTF-8. */
  ascii = true;
  /**
   * Whether a key that is part of a name held the separator (a key below a top-level entry,
   * or a top-level key whose value is not an object). Only then can two names below one
   * top-level object, or two names of top-level scalars and arrays, be the same
   * (`{"a_b":1,"a":{"b":2}}`): names join keys and indexes, and no key starts with a digit.
   */
  sepInKeys = false;

  /** Texts of the last message, by position: keys by key ordinal, names by name ordinal, strings by string ordinal. */
  private readonly keyTexts: string[] = [];
  /** Whether each of `keyTexts` holds the separator. */
  private readonly keySeps: boolean[] = [];
  private readonly nameParents: (string | undefined)[] = [];
  private readonly nameSegs: string[] = [];
  private readonly names: string[] = [];
  private readonly strings: string[] = [];
  private nKeys = 0;
  private nNames = 0;
  private nStrings = 0;
  /** Keys of the objects being read, innermost last (duplicate detection). */
  private readonly open: string[] = [];
  private readonly indexSegs: string[];

  constructor(
    private readonly sep = '_',
    arrayBase = 0,
  ) {
    this.indexSegs = Array.from({ length: 64 }, (_, i) => String(i + arrayBase));
    this.arrayBase = arrayBase;
  }

  private readonly arrayBase: number;

  /** Scans bytes `[start, end)` of `b`; false when the payload is left to JSON.parse (see the module comment). A leading UTF-8 BOM is skipped. */
  scan(b: Buffer, start = 0, end = b.length): boolean {
    seen.high = 0;
    if (b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) {
      start += 3;
      seen.high = 3;
    }
    this.nTop = this.nLeaves = this.nKeys = this.nNames = this.nStrings = 0;
    this.open.length = 0;
    this.sepInKeys = false;
    let i = skipSpace(b, start, end);
    if (at(b, i, end) !== 123 /* { */) return false;
    i = skipSpace(b, i + 1, end);
    if (at(b, i, end) === 125 /* } */) i++;
    else {
      for (;;) {
        if (this.nTop === MAX_TOP) return false;
        const key = this.key(b, i, end, 0);
        if (key === undefined) return false;
        i = skipSpace(b, this.after + 1, end);
        if (at(b, i, end) !== 58 /* : */) return false;
        i = skipSpace(b, i + 1, end);
        const t = this.nTop++;
        this.topKeys[t] = key;
        const c = at(b, i, end);
        if (c !== 123 && this.keySep) this.sepInKeys = true;
        if (c === 123 || c === 91) {
          this.topKinds[t] = c === 123 ? TopKind.Object : TopKind.Array;
          this.topValues[t] = null;
          i = c === 123 ? this.object(b, i, end, undefined, t, 1) : this.array(b, i, end, key, t, 1);
        } else {
          i = this.scalar(b, i, end);
          if (i >= 0) {
            const v = this.value;
            this.topKinds[t] = v === null ? TopKind.Null : TopKind.Scalar;
            this.topValues[t] = v;
          }
        }
        if (i < 0) return false;
        i = skipSpace(b, i, end);
        const sep = at(b, i, end);
        if (sep === 44 /* , */) {
          i = skipSpace(b, i + 1, end);
          continue;
        }
        if (sep !== 125 /* } */) return false;
        i++;
        break;
      }
    }
    if (skipSpace(b, i, end) !== end) return false;
    this.ascii = seen.high === 0;
    return true;
  }

  /** Whether the last key read by `key()` held the separator. */
  private keySep = false;
  /** Index after the last key read by `key()` (its closing quote). */
  private after = 0;
  /** The value read by `scalar()`. */
  private value: LeafValue | null = null;

  /**
   * Reads the key starting at `i` (its opening quote) of an object whose keys start at
   * `open[from]`; undefined when it is not a key the scanner takes (see the module comment).
   */
  private key(b: Buffer, i: number, end: number, from: number): string | undefined {
    if (at(b, i, end) !== 34) return undefined;
    const ks = i + 1;
    if (isDigit(at(b, ks, end))) return undefined;
    const h = seen.high;
    const ke = stringEnd(b, ks, end);
    if (ke < 0) return undefined;
    const ascii = seen.high === h;
    const k = this.nKeys++;
    const last = this.keyTexts[k];
    let key: string;
    if (ascii && last !== undefined && last.length === ke - ks && sameText(b, ks, last)) key = last;
    else {
      key = this.keyTexts[k] = bytesText(b, ks, ke, ascii);
      this.keySeps[k] = key.includes(this.sep);
    }
    this.keySep = this.keySeps[k] === true;
    const open = this.open;
    if (open.length - from >= MAX_OBJECT_KEYS) return undefined;
    for (let j = from; j < open.length; j++) if (open[j] === key) return undefined;
    open.push(key);
    this.after = ke;
    return key;
  }

  /** `parent + sep + seg` (or `seg` at the top of a name), reused from the last message at this position when the parts are the same. */
  private name(parent: string | undefined, seg: string): string {
    const o = this.nNames++;
    if (this.nameParents[o] === parent && this.nameSegs[o] === seg && o < this.names.length) return this.names[o] as string;
    const n = parent === undefined ? seg : parent + this.sep + seg;
    this.nameParents[o] = parent;
    this.nameSegs[o] = seg;
    this.names[o] = n;
    return n;
  }

  /** Reads a number, string, true, false or null at `i` into `value`; the index after it, or -1. */
  private scalar(b: Buffer, i: number, end: number): number {
    const c = at(b, i, end);
    if (c === 34) {
      const h = seen.high;
      const e = stringEnd(b, i + 1, end);
      if (e < 0) return -1;
      const ascii = seen.high === h;
      const s = this.nStrings++;
      const last = this.strings[s];
      if (ascii && last !== undefined && last.length === e - i - 1 && sameText(b, i + 1, last)) this.value = last;
      else this.value = this.strings[s] = bytesText(b, i + 1, e, ascii);
      return e + 1;
    }
    if (c === 45 || isDigit(c)) {
      i = readNumber(b, i, end);
      this.value = num.value;
      return i;
    }
    if (c === 116 && at(b, i + 1, end) === 114 && at(b, i + 2, end) === 117 && at(b, i + 3, end) === 101) {
      this.value = true;
      return i + 4;
    }
    if (c === 102 && at(b, i + 1, end) === 97 && at(b, i + 2, end) === 108 && at(b, i + 3, end) === 115 && at(b, i + 4, end) === 101) {
      this.value = false;
      return i + 5;
    }
    if (c === 110 && at(b, i + 1, end) === 117 && at(b, i + 2, end) === 108 && at(b, i + 3, end) === 108) {
      this.value = null;
      return i + 4;
    }
    return -1;
  }

  /** One value below a top-level entry, named `name`: a leaf, or a container read recursively. */
  private member(b: Buffer, i: number, end: number, name: string, top: number, depth: number): number {
    const c = at(b, i, end);
    if (c === 123) return this.object(b, i, end, name, top, depth + 1);
    if (c === 91) return this.array(b, i, end, name, top, depth + 1);
    i = this.scalar(b, i, end);
    const v = this.value;
    if (i < 0 || v === null) return i;
    if (this.nLeaves === MAX_LEAVES) return -1;
    const l = this.nLeaves++;
    this.leafTop[l] = top;
    this.leafNames[l] = name;
    this.leafValues[l] = v;
    return i;
  }

  /** An object at `i` whose members are named below `prefix` (undefined: at the top of a name). */
  private object(b: Buffer, i: number, end: number, prefix: string | undefined, top: number, depth: number): number {
    if (depth > MAX_DEPTH) return -1;
    i = skipSpace(b, i + 1, end);
    if (at(b, i, end) === 125) return i + 1;
    const from = this.open.length;
    for (;;) {
      const key = this.key(b, i, end, from);
      if (key === undefined) return -1;
      if (this.keySep) this.sepInKeys = true;
      i = skipSpace(b, this.after + 1, end);
      if (at(b, i, end) !== 58) return -1;
      i = skipSpace(b, i + 1, end);
      i = this.member(b, i, end, this.name(prefix, key), top, depth);
      if (i < 0) return -1;
      i = skipSpace(b, i, end);
      const c = at(b, i, end);
      if (c === 44) {
        i = skipSpace(b, i + 1, end);
        continue;
      }
      if (c !== 125) return -1;
      this.open.length = from;
      return i + 1;
    }
  }

  /** An array at `i` whose elements are named `prefix + sep + (index + arrayBase)`. */
  private array(b: Buffer, i: number, end: number, prefix: string, top: number, depth: number): number {
    if (depth > MAX_DEPTH) return -1;
    i = skipSpace(b, i + 1, end);
    if (at(b, i, end) === 93) return i + 1;
    for (let k = 0; ; k++) {
      const seg = k < this.indexSegs.length ? (this.indexSegs[k] as string) : String(k + this.arrayBase);
      i = this.member(b, i, end, this.name(prefix, seg), top, depth);
      if (i < 0) return -1;
      i = skipSpace(b, i, end);
      const c = at(b, i, end);
      if (c === 44) {
        i = skipSpace(b, i + 1, end);
        continue;
      }
      return c === 93 ? i + 1 : -1;
    }
  }
}
