/**
 * Journal format 1: one record per frame, as releases before format 2 (block-codec.ts) wrote
 * them. Frames are still read (a spool written before the upgrade is drained) and never
 * written by the journal; the encoder stays as the reference and for tests. Layout,
 * little-endian:
 *
 *   offset size  field
 *   0      1     magic 0xEF
 *   1      1     format version (1)
 *   2      2     flags, 0 (reserved)
 *   4      4     body length B (u32), bytes after this 12-byte header
 *   8      4     CRC-32C of bytes [0, 8) followed by the whole body
 *   12     8     seq (u64, < 2^53)
 *   20     8     receivedAt (i64, ns since the epoch)
 *   28     2     sourceId length S (u16)
 *   30     2     topic length T (u16)
 *   32     S     sourceId, UTF-8
 *   32+S   T     topic, UTF-8
 *   32+S+T P     payload, P = B - 20 - S - T
 *
 * Fixed overhead: 32 bytes per record plus sourceId and topic.
 */
import { crc32c } from './crc32c.js';
import type { JournalEntry, JournalRecord } from './journal.js';
import type { PayloadRange } from '../types.js';

export const MAGIC = 0xef;
export const VERSION = 1;
export const HEADER_BYTES = 12;
/** Body bytes before sourceId: seq, receivedAt, two lengths. */
export const FIXED_BODY_BYTES = 20;
export const FRAME_OVERHEAD = HEADER_BYTES + FIXED_BODY_BYTES;
/** Largest body accepted (a bigger length field is garbage, an entry that big is refused). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const scratchTimeBytes = new Uint8Array(8);
const scratchTime = new DataView(scratchTimeBytes.buffer);

/** Upper bound of a frame's size for `entry` (strings counted at 3 bytes per UTF-16 unit). */
export function maxFrameBytes(entry: JournalEntry): number {
  return FRAME_OVERHEAD + 3 * (entry.sourceId.length + entry.topic.length) + entry.payload.length;
}

/**
 * Writes `text` as UTF-8 at `at` and returns its byte length. Topics and source ids are
 * short and nearly always ASCII: a plain loop writes them faster than Buffer#write's call
 * into C++; anything else goes through Buffer#write.
 */
function writeText(buf: Buffer, text: string, at: number): number {
  const n = text.length;
  if (n > 256) return buf.write(text, at, 'utf8');
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return buf.write(text, at, 'utf8');
    buf[at + i] = c;
  }
  return n;
}

/**
 * Writes the frame of `entry` with `seq` into `buf` at `at` (from there `buf` must hold
 * `maxFrameBytes(entry)` bytes) and returns its length.
 */
export function encodeFrame(buf: Buffer, seq: number, entry: JournalEntry, at = 0): number {
  const s = writeText(buf, entry.sourceId, at + FRAME_OVERHEAD);
  const t = writeText(buf, entry.topic, at + FRAME_OVERHEAD + s);
  if (s > 0xffff || t > 0xffff) throw new RangeError('journal: sourceId and topic must be at most 65535 bytes');
  const p = entry.payload.length;
  const body = FIXED_BODY_BYTES + s + t + p;
  if (body > MAX_BODY_BYTES) throw new RangeError(`journal: record of ${body} bytes exceeds ${MAX_BODY_BYTES}`);
  buf.set(entry.payload, at + FRAME_OVERHEAD + s + t); // a V8 builtin: cheaper than Buffer#copy's binding call for small payloads
  buf[at] = MAGIC;
  buf[at + 1] = VERSION;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  buf.writeUInt32LE(body, at + 4);
  buf.writeUInt32LE(seq >>> 0, at + 12);
  buf.writeUInt32LE(Math.floor(seq / TWO_32), at + 16);
  // Through a scratch int64: Buffer#writeBigInt64LE computes both halves with BigInt
  // arithmetic, allocating on every record.
  if (entry.receivedAt < INT64_MIN || entry.receivedAt > INT64_MAX) throw new RangeError(`journal: receivedAt ${entry.receivedAt} is outside int64`);
  scratchTime.setBigInt64(0, entry.receivedAt, true);
  buf.set(scratchTimeBytes, at + 20);
  buf.writeUInt16LE(s, at + 28);
  buf.writeUInt16LE(t, at + 30);
  const len = HEADER_BYTES + body;
  buf.writeUInt32LE(crc32c(buf, at + HEADER_BYTES, at + len, crc32c(buf, at, at + 8)), at + 8);
  return len;
}

/** `checkFrame` result when `buf[pos, end)` holds the start of a plausible frame but not all of it. */
export const PARTIAL = 0;
/** `checkFrame` result when no valid frame starts at `pos`. */
export const BAD = -1;

/**
 * Checks the frame at `buf[pos, end)`: returns its length when it is complete and its
 * checksum matches, PARTIAL when the bytes present are a plausible beginning (header
 * sane, or too few bytes to tell), BAD otherwise.
 */
export function checkFrame(buf: Buffer, pos: number, end: number): number {
  const avail = end - pos;
  if (avail < 1) return PARTIAL;
  if (buf[pos] !== MAGIC) return BAD;
  if (avail < HEADER_BYTES) {
    // Too short to tell; what is there must still look like a header.
    if (avail >= 2 && buf[pos + 1] !== VERSION) return BAD;
    return PARTIAL;
  }
  if (buf[pos + 1] !== VERSION || buf[pos + 2] !== 0 || buf[pos + 3] !== 0) return BAD;
  const body = buf.readUInt32LE(pos + 4);
  if (body < FIXED_BODY_BYTES || body > MAX_BODY_BYTES) return BAD;
  const len = HEADER_BYTES + body;
  if (avail < len) return PARTIAL;
  const crc = crc32c(buf, pos + HEADER_BYTES, pos + len, crc32c(buf, pos, pos + 8));
  if (crc !== buf.readUInt32LE(pos + 8)) return BAD;
  const strings = buf.readUInt16LE(pos + 28) + buf.readUInt16LE(pos + 30);
  if (FIXED_BODY_BYTES + strings > body) return BAD;
  return len;
}

/** The declared total length of the frame whose header is at `pos` (header must be present). */
export function declaredFrameBytes(buf: Buffer, pos: number): number {
  return HEADER_BYTES + buf.readUInt32LE(pos + 4);
}

/** The seq of the (checked) frame at `pos`. */
export function frameSeq(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos + 16) * TWO_32 + buf.readUInt32LE(pos + 12);
}

/**
 * The (checked) frame at `pos` of length `len` as a record, every field decoded when it is
 * made (decodeFrame), plus the frame's length and its payload as a range of `buf`. The
 * payload is a view into `buf` (no copy): `buf` must not be reused while the record lives.
 */
export class FrameRecord implements JournalRecord {
  readonly seq: number;
  readonly sourceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: bigint;

  constructor(
    private readonly buf: Buffer,
    private readonly pos: number,
    /** The frame's length in bytes, header included. */
    readonly frameBytes: number,
  ) {
    const r = decodeFrame(buf, pos, frameBytes);
    this.seq = r.seq;
    this.sourceId = r.sourceId;
    this.topic = r.topic;
    this.payload = r.payload;
    this.receivedAt = r.receivedAt;
  }

  /** The payload as a range of the frame's bytes (no Buffer view made for it). */
  payloadRange(): PayloadRange {
    return { buf: this.buf, start: this.pos + this.frameBytes - this.payload.length, end: this.pos + this.frameBytes };
  }

  /** The fields as a plain object, for JSON.stringify and loggers. */
  toJSON(): JournalRecord {
    return { seq: this.seq, sourceId: this.sourceId, topic: this.topic, payload: this.payload, receivedAt: this.receivedAt };
  }
}

/** Bytes a record takes in the journal's frames (estimated for records not read from a frame). */
export function recordBytes(rec: JournalRecord): number {
  return rec instanceof FrameRecord ? rec.frameBytes : FRAME_OVERHEAD + rec.sourceId.length + rec.topic.length + rec.payload.length;
}

/** The (checked) frame at `pos` of length `len`, every field decoded (FrameRecord keeps the frame's length and bytes besides). */
export function decodeFrame(buf: Buffer, pos: number, len: number): JournalRecord {
  const s = buf.readUInt16LE(pos + 28);
  const t = buf.readUInt16LE(pos + 30);
  const a = pos + FRAME_OVERHEAD;
  return {
    seq: frameSeq(buf, pos),
    receivedAt: buf.readBigInt64LE(pos + 20),
    sourceId: s === 0 ? '' : buf.toString('utf8', a, a + s),
    topic: t === 0 ? '' : buf.toString('utf8', a + s, a + s + t),
    payload: buf.subarray(a + s + t, pos + len),
  };
}
