/**
 * Journal format 2: records in checksummed blocks, the records of one write(2) together,
 * source ids and topics as numbers into the segment's dictionary (segment-dict.ts), integers
 * as varints, arrival times as deltas. Layout (little-endian; docs/architecture.md has the
 * table):
 *
 *   offset size  field
 *   0      1     magic 0xEF (as format 1: a scan resynchronises on both)
 *   1      1     0x20 | flags (bit 0: times in µs, bit 1: the block defines dictionary entries)
 *   2      2     record count N (u16, ≥ 1)
 *   4      4     body length B (u32), bytes after this 12-byte header
 *   8      4     CRC-32C of bytes [0, 8) followed by the whole body
 *   body:  varint seq of the first record · zigzag varint base time (ns, or µs with flag 0)
 *          · N records · [flag 1: varint count, then per entry: varint id, varint
 *          length × 2 + kind, the bytes: kind 0 a string (UTF-8) with that id, kind 1 the
 *          reference payload of the topic with that id]
 *   record: varint sourceId id · varint topic id · zigzag varint time − previous time (the
 *          first: − base) in the block's unit · varint L · the payload: L = P × 2, then P
 *          bytes as received; or L = D × 2 + 1, then D bytes coding the payload as the
 *          differences from the topic's reference: varint P, then literal runs and copies
 *          (varint n, n bytes; zigzag varint shift, varint count), ending with a literal run
 *
 * The seq of record k is the block's seq + k. An entry is defined in the block where it is
 * first used and again in the next block of the segment (one damaged block never takes its
 * definitions with it). A topic's reference is its first payload in the segment (of 16 to
 * 1024 bytes); a later payload of the topic is coded against it when that is shorter:
 * readings of one device differ from each other in a few digits. A block stays below
 * BLOCK_TARGET_BYTES unless one record is bigger.
 */
import { crc32c } from './crc32c.js';
import type { JournalEntry, JournalRecord } from './journal.js';
import {
  BAD,
  HEADER_BYTES,
  MAGIC,
  MAX_BODY_BYTES,
  PARTIAL,
  VERSION as FORMAT1,
  checkFrame,
  frameSeq,
  recordBytes as frameRecordBytes,
} from './record-codec.js';
import { REF_MAX_BYTES, REF_MIN_BYTES, type SegmentDict } from './segment-dict.js';
import { PayloadArena, diff, diffed, undiffInto } from './payload-diff.js';
import { VarintReader, unzigzag, writeBigVarint, writeVarint, zigzag } from './varint.js';
import type { PayloadRange } from '../types.js';

export const BLOCK_VERSION = 0x20;
const FLAG_US = 1;
const FLAG_DEFINES = 2;
const MAX_COUNT = 0xffff;
/** A new block starts once one holds this much (a read never needs much more to find a record). */
export const BLOCK_TARGET_BYTES = 32 * 1024;
/** Smallest body: a 1-byte seq, a 1-byte base and one empty record. */
const MIN_BODY = 6;
const TWO_52 = 2 ** 52;
const SAFE_HALF = BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 2));

/** Upper bound of the bytes `entry` adds to a block (new strings counted twice: defined, then stated again). */
export function maxEntryBytes(entry: JournalEntry): number {
  const p = entry.payload.length;
  return 40 + p + 2 * (20 + 3 * (entry.sourceId.length + entry.topic.length)) + (p <= REF_MAX_BYTES ? 2 * (20 + p) : 0);
}

/** Upper bound of a block's bytes besides its records and definitions (header, seq, base, define count). */
export const BLOCK_FIXED_MAX = HEADER_BYTES + 10 + 11 + 10;

/** Upper bound of the next block's bytes besides its records (the fixed part, the entries it states again). */
export function maxBlockOverhead(dict: SegmentDict): number {
  let restated = 0;
  for (const e of dict.prevNew) restated += 20 + (e % 2 === 0 ? 3 * (dict.strings[e / 2]?.length ?? 0) : (dict.refs[(e - 1) / 2]?.length ?? 0));
  return BLOCK_FIXED_MAX + restated;
}

/** One write's records, to be encoded into blocks: what WriteBatch hands the encoder. */
export interface BlockSink {
  buf: Buffer;
  len: number;
  /** Per block: its length and record count. */
  readonly unitLens: number[];
  readonly unitCounts: number[];
  /** Per record (index into the batch): its sourceId and topic ids. */
  srcIds: Uint32Array;
  topicIds: Uint32Array;
}

/**
 * Encodes `entries` (seqs `firstSeq`, `firstSeq + 1`, …) as blocks into `out.buf` from
 * `out.len` (room for `Σ maxEntryBytes + entries × maxBlockOverhead` must be there), defining
 * new strings in `dict` (mark it first: a failed write rolls them back).
 */
export function encodeBlocks(entries: readonly JournalEntry[], firstSeq: number, dict: SegmentDict, out: BlockSink): void {
  let i = 0;
  while (i < entries.length) i = encodeBlock(entries, i, firstSeq + i, dict, out);
}

function encodeBlock(entries: readonly JournalEntry[], from: number, seq: number, dict: SegmentDict, out: BlockSink): number {
  const buf = out.buf;
  const start = out.len;
  const base = entries[from]!.receivedAt;
  const us = base % 1000n === 0n;
  const unit = us ? 1000 : 1;
  let at = writeVarint(buf, start + HEADER_BYTES, seq);
  const scaled = us ? base / 1000n : base;
  at = scaled >= 0n && scaled <= SAFE_HALF ? writeVarint(buf, at, zigzag(Number(scaled))) : writeBigVarint(buf, at, scaled);
  const fresh: number[] = [];
  let lastSource: string | undefined;
  let lastSourceId = 0;
  let prev = 0;
  let i = from;
  for (; i < entries.length && i - from < MAX_COUNT; i++) {
    const e = entries[i]!;
    if (i > from && at - start >= BLOCK_TARGET_BYTES) break;
    const off = Number(e.receivedAt - base);
    if (!(Math.abs(off) <= TWO_52) || off % unit !== 0) {
      if (i > from) break; // another block, with a base of its own
      throw new RangeError(`journal: receivedAt ${e.receivedAt} is out of range`); // cannot happen: off = 0 here
    }
    // A batch nearly always has one source: its id is looked up once.
    if (e.sourceId !== lastSource) {
      lastSource = e.sourceId;
      lastSourceId = dict.idOf(lastSource, fresh);
    }
    const src = lastSourceId;
    const topic = dict.idOf(e.topic, fresh);
    out.srcIds[i] = src;
    out.topicIds[i] = topic;
    at = writeVarint(buf, at, src);
    at = writeVarint(buf, at, topic);
    at = writeVarint(buf, at, zigzag((off - prev) / unit));
    prev = off;
    const p = e.payload;
    const ref = dict.refs[topic];
    const d = ref === undefined ? 0 : diff(p, ref);
    if (d > 0) {
      at = writeVarint(buf, at, d * 2 + 1);
      buf.set(diffed(d), at);
      at += d;
    } else {
      if (ref === undefined && p.length >= REF_MIN_BYTES && p.length <= REF_MAX_BYTES) dict.setRef(topic, p, fresh);
      at = writeVarint(buf, at, p.length * 2);
      buf.set(p, at); // a V8 builtin: cheaper than Buffer#copy's binding call for small payloads
      at += p.length;
    }
  }
  let flags = us ? FLAG_US : 0;
  const defines = dict.prevNew.length === 0 ? fresh : [...dict.prevNew, ...fresh];
  if (defines.length > 0) {
    flags |= FLAG_DEFINES;
    at = writeVarint(buf, at, defines.length);
    for (const e of defines) {
      if (e % 2 === 0) {
        const s = dict.strings[e / 2]!;
        at = writeVarint(buf, at, e / 2);
        at = writeVarint(buf, at, Buffer.byteLength(s) * 2);
        at += buf.write(s, at, 'utf8');
      } else {
        const ref = dict.refs[(e - 1) / 2]!;
        at = writeVarint(buf, at, (e - 1) / 2);
        at = writeVarint(buf, at, ref.length * 2 + 1);
        buf.set(ref, at);
        at += ref.length;
      }
    }
  }
  dict.prevNew = fresh;
  const count = i - from;
  const body = at - start - HEADER_BYTES;
  if (body > MAX_BODY_BYTES) throw new RangeError(`journal: record of ${body} bytes exceeds ${MAX_BODY_BYTES}`);
  buf[start] = MAGIC;
  buf[start + 1] = BLOCK_VERSION | flags;
  buf.writeUInt16LE(count, start + 2);
  buf.writeUInt32LE(body, start + 4);
  buf.writeUInt32LE(crc32c(buf, start + HEADER_BYTES, at, crc32c(buf, start, start + 8)), start + 8);
  out.unitLens.push(at - start);
  out.unitCounts.push(count);
  out.len = at;
  return i;
}

const isBlock = (v: number): boolean => (v & 0xfc) === BLOCK_VERSION;

/**
 * Checks the unit (a format-1 frame or a block) at `buf[pos, end)`: its length when complete
 * with a matching checksum, PARTIAL when what is there is a plausible beginning, BAD otherwise.
 */
export function checkUnit(buf: Buffer, pos: number, end: number): number {
  const avail = end - pos;
  if (avail >= 2 && buf[pos] === MAGIC && isBlock(buf[pos + 1]!)) {
    if (avail < HEADER_BYTES) return PARTIAL;
    const body = buf.readUInt32LE(pos + 4);
    if (body < MIN_BODY || body > MAX_BODY_BYTES || buf.readUInt16LE(pos + 2) === 0) return BAD;
    const len = HEADER_BYTES + body;
    if (avail < len) return PARTIAL;
    return crc32c(buf, pos + HEADER_BYTES, pos + len, crc32c(buf, pos, pos + 8)) === buf.readUInt32LE(pos + 8) ? len : BAD;
  }
  return checkFrame(buf, pos, end);
}

/** Whether a plausible unit header (magic, a known version) starts at `pos` (two bytes present). */
export function isUnitStart(buf: Buffer, pos: number): boolean {
  return buf[pos] === MAGIC && (buf[pos + 1] === FORMAT1 || isBlock(buf[pos + 1]!));
}

/** Whether the (checked) unit at `pos` is a block (format 2) rather than a format-1 frame. */
export function unitIsBlock(buf: Buffer, pos: number): boolean {
  return isBlock(buf[pos + 1]!);
}

/** The seq of the (checked) unit's first record. */
export function unitSeq(buf: Buffer, pos: number): number {
  if (!unitIsBlock(buf, pos)) return frameSeq(buf, pos);
  return new VarintReader(buf, pos + HEADER_BYTES, buf.length).varint();
}

/** Records in the (checked) unit. */
export function unitCount(buf: Buffer, pos: number): number {
  return unitIsBlock(buf, pos) ? buf.readUInt16LE(pos + 2) : 1;
}

/** Whether the (checked) unit defines dictionary entries. */
export function unitDefines(buf: Buffer, pos: number): boolean {
  return unitIsBlock(buf, pos) && (buf[pos + 1]! & FLAG_DEFINES) !== 0;
}

/** Notes the dictionary entries the (checked) block of `len` bytes at `pos` defines into `dict`. */
export function readDefines(buf: Buffer, pos: number, len: number, dict: SegmentDict): void {
  if (!unitDefines(buf, pos)) return;
  const r = new VarintReader(buf, pos + HEADER_BYTES, pos + len);
  r.varint();
  r.bigZigzag();
  for (let n = buf.readUInt16LE(pos + 2); n > 0; n--) {
    r.varint();
    r.varint();
    r.varint();
    r.skip(Math.floor(r.varint() / 2));
  }
  for (let n = r.varint(); n > 0; n--) {
    const id = r.varint();
    const lk = r.varint();
    const bytes = Math.floor(lk / 2);
    const at = r.skip(bytes);
    if (lk % 2 === 0) dict.define(id, buf.toString('utf8', at, at + bytes));
    else dict.defineRef(id, Buffer.from(buf.subarray(at, at + bytes))); // a copy: `buf` is a read chunk
  }
}

/** Where decodeBlock writes the payloads it decodes from their differences. */
const arena = new PayloadArena();

/**
 * The records of the (checked) block of `len` bytes at `pos` with seq ≥ `fromSeq`, pushed to
 * `out` until it holds `max`; returns the number of the block's records it went past (pushed,
 * skipped as below `fromSeq`, or lost). A record naming an entry `dict` does not have (its
 * definition was in a damaged block) is lost: `onLost(seq)`. Payloads are ranges of `buf`, or of the arena for those coded as differences.
 * Throws a RangeError when the block is malformed despite its checksum.
 */
export function decodeBlock(
  buf: Buffer,
  pos: number,
  len: number,
  fromSeq: number,
  max: number,
  dict: SegmentDict,
  out: JournalRecord[],
  onLost: (seq: number) => void,
): number {
  const end = pos + len;
  const flags = buf[pos + 1]!;
  const count = buf.readUInt16LE(pos + 2);
  if (flags & FLAG_DEFINES) readDefines(buf, pos, len, dict);
  const r = new VarintReader(buf, pos + HEADER_BYTES, end);
  const first = r.varint();
  const unit = flags & FLAG_US ? 1000 : 1;
  const zbase = r.bigZigzag();
  const base = unit === 1000 ? zbase * 1000n : zbase;
  const strings = dict.strings;
  let off = 0;
  let k = 0;
  for (; k < count && out.length < max; k++) {
    const src = r.varint();
    const topic = r.varint();
    off += unzigzag(r.varint()) * unit;
    const lk = r.varint();
    const p = Math.floor(lk / 2);
    const at = r.skip(p);
    const seq = first + k;
    if (seq < fromSeq) continue;
    const s = strings[src];
    const t = strings[topic];
    if (s === undefined || t === undefined) onLost(seq);
    else if (lk % 2 === 0) out.push(new BlockRecord(seq, s, t, buf, at, at + p, base, off));
    else {
      const ref = dict.refs[topic];
      if (ref === undefined) onLost(seq);
      else {
        const from = undiffInto(buf, at, at + p, ref, arena);
        out.push(new BlockRecord(seq, s, t, arena.buf, from, arena.used, base, off));
      }
    }
  }
  return k;
}

/**
 * A record read from a block (or held by the recent tail). The payload is a range of `buf`
 * (no copy): `buf` must not be reused while the record lives.
 *
 * `payload` and `receivedAt` are made when asked: a drain reading a backlog makes a record
 * per message, and its decoder reads the bytes through `payloadRange()` and the arrival
 * time only for a message without a time of its own. Made up front, the Buffer view and
 * the two bigints were a quarter of the drain's allocations (bench/RESULTS.md 2026-12-06).
 */
export class BlockRecord implements JournalRecord {
  constructor(
    readonly seq: number,
    readonly sourceId: string,
    readonly topic: string,
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
    private readonly base: bigint,
    /** ns after `base`. */
    private readonly off: number,
  ) {}

  get payload(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  get receivedAt(): bigint {
    return this.off === 0 ? this.base : this.base + BigInt(this.off);
  }

  /** The payload as a range of the block's bytes (no Buffer view made for it). */
  payloadRange(): PayloadRange {
    return { buf: this.buf, start: this.start, end: this.end };
  }

  /** Bytes the record takes in a block, about (for sizing reads). */
  get approxBytes(): number {
    return this.end - this.start + 8;
  }

  /** The fields as a plain object, for JSON.stringify and loggers. */
  toJSON(): JournalRecord {
    return { seq: this.seq, sourceId: this.sourceId, topic: this.topic, payload: this.payload, receivedAt: this.receivedAt };
  }
}

/** Bytes a record takes in the journal, about (for sizing reads). */
export function recordBytes(rec: JournalRecord): number {
  return rec instanceof BlockRecord ? rec.approxBytes : frameRecordBytes(rec);
}

export { BAD, PARTIAL, HEADER_BYTES };
