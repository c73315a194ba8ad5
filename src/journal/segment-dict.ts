/**
 * The dictionary of one segment: the source ids and topics its blocks refer to by number.
 * Entries are defined inside the blocks (block-codec.ts): in the block where a string first
 * appears, and stated again in the block after it, so that one damaged block does not take
 * the entries it defined with it. Ids are given in order from 0 and never change; a reader
 * that meets an id it was never told is reading past damage (the record is skipped and
 * counted, never attributed to another string).
 *
 * The active segment's dictionary also maps strings to ids (for the writer). What one write
 * defines is only tentative until the write reached the OS: `mark` before encoding,
 * `rollback` when the write failed, so the dictionary in memory never names an entry that
 * is not in the file.
 */

/** A segment's dictionary is closed (and a new segment started) past this many bytes of strings... */
export const DICT_MAX_BYTES = 1024 * 1024;
/** ...or this many entries. */
export const DICT_MAX_ENTRIES = 65_536;

/** Payloads of this size range get a reference (the first payload of a topic in the segment) to be coded against. */
export const REF_MIN_BYTES = 16;
export const REF_MAX_BYTES = 1024;

export interface DictMark {
  readonly size: number;
  readonly bytes: number;
  readonly prevNew: readonly number[];
  readonly refs: number;
}

export class SegmentDict {
  /** Entry `id` → its string; a hole where a definition was lost to damage. */
  readonly strings: (string | undefined)[] = [];
  /** UTF-8 bytes of all entries. */
  bytes = 0;
  /**
   * Per topic id: its reference payload, the first payload of that topic in the segment
   * (a later one is coded as the differences from it).
   */
  readonly refs: (Buffer | undefined)[] = [];
  /** Entries first defined by the last block encoded (string id × 2, or topic id × 2 + 1 for a reference): the next block states them again. */
  prevNew: readonly number[] = [];
  /** Topic ids given a reference, in order (for rollback). */
  private readonly refLog: number[] = [];
  private ids: Map<string, number> | undefined;

  /** The id of `s`, defining it when new (writer side). */
  idOf(s: string, fresh: number[]): number {
    const ids = (this.ids ??= this.indexStrings());
    let id = ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      ids.set(s, id);
      this.bytes += Buffer.byteLength(s);
      fresh.push(id * 2);
    }
    return id;
  }

  /** Makes a copy of `payload` the reference of topic `topic` (writer side). */
  setRef(topic: number, payload: Buffer, fresh: number[]): void {
    this.refs[topic] = Buffer.from(payload);
    this.refLog.push(topic);
    this.bytes += payload.length;
    fresh.push(topic * 2 + 1);
  }

  /** Notes a reference read from a block; the first one read stands. */
  defineRef(topic: number, payload: Buffer): void {
    if (this.refs[topic] !== undefined) return;
    this.refs[topic] = payload;
    this.bytes += payload.length;
  }

  /** Notes a definition read from a block (reader and recovery side); the first one read stands. */
  define(id: number, s: string): void {
    if (this.strings[id] !== undefined) return;
    while (this.strings.length < id) this.strings.push(undefined);
    this.strings[id] = s;
    this.bytes += Buffer.byteLength(s);
    this.ids?.set(s, id);
  }

  /** Whether the writer should start a new segment (and so a new dictionary). */
  get full(): boolean {
    return this.bytes >= DICT_MAX_BYTES || this.strings.length >= DICT_MAX_ENTRIES;
  }

  mark(): DictMark {
    return { size: this.strings.length, bytes: this.bytes, prevNew: this.prevNew, refs: this.refLog.length };
  }

  /** Forgets what was defined since `m` (the write carrying it failed). */
  rollback(m: DictMark): void {
    if (this.ids) for (let i = m.size; i < this.strings.length; i++) this.ids.delete(this.strings[i]!);
    this.strings.length = m.size;
    for (const t of this.refLog.splice(m.refs)) this.refs[t] = undefined;
    this.bytes = m.bytes;
    this.prevNew = m.prevNew;
  }

  private indexStrings(): Map<string, number> {
    const ids = new Map<string, number>();
    this.strings.forEach((s, i) => {
      if (s !== undefined && !ids.has(s)) ids.set(s, i);
    });
    return ids;
  }
}
