/**
 * The newest journal records kept in memory, exactly as written (the frames of each
 * batch write, copied once), so that a drain keeping up with the head reads them back
 * without a read(2): the common case, where every output is up and follows the ingest.
 *
 * Bounded by bytes (`maxBytes`, at least the newest batch is kept); the oldest batches
 * go first. Reads are served only when the tail holds the first seq asked for, and they
 * never go past the tail's end (the log's head), so the answer is the one the segment
 * files would give. The bytes never left memory, so checksums are not verified again.
 */
import type { JournalRecord } from './journal.js';
import { FrameRecord } from './record-codec.js';

const BLOCK_BYTES = 256 * 1024;

interface Chunk {
  readonly first: number;
  readonly buf: Buffer;
  /** Frame start offsets in `buf`, plus the end: length = records + 1. */
  readonly offs: Uint32Array;
}

export class RecentTail {
  private chunks: Chunk[] = [];
  private start = 0;
  private bytes = 0;
  private block: Buffer | undefined;
  private blockUsed = 0;

  constructor(private readonly maxBytes = 2 * 1024 * 1024) {}

  /** Keeps the frames `src[0, len)` of lengths `lens`, holding seqs `first`, `first + 1`, … */
  add(first: number, src: Buffer, len: number, lens: readonly number[]): void {
    const buf = this.space(len);
    src.copy(buf, 0, 0, len);
    const offs = new Uint32Array(lens.length + 1);
    for (let i = 0, at = 0; i < lens.length; i++) {
      offs[i] = at;
      at += lens[i]!;
      offs[i + 1] = at;
    }
    this.chunks.push({ first, buf, offs });
    this.bytes += len;
    while (this.bytes > this.maxBytes && this.chunks.length - this.start > 1) {
      this.bytes -= this.chunks[this.start]!.buf.length;
      this.chunks[this.start++] = undefined as unknown as Chunk;
    }
    if (this.start > 1024 && this.start * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.start);
      this.start = 0;
    }
  }

  /**
   * `len` bytes for a new chunk, cut from the current block (a fresh block when it is full;
   * a batch larger than a block gets its own buffer). Blocks rather than a buffer per batch:
   * a batch stays here long enough to be promoted by the V8 young generation, and thousands
   * of small promoted buffers a second only go at the next full GC, growing RSS meanwhile.
   * A block is freed once no chunk cut from it is held.
   */
  private space(len: number): Buffer {
    if (len > BLOCK_BYTES / 4) return Buffer.allocUnsafeSlow(len);
    if (this.block === undefined || this.blockUsed + len > this.block.length) {
      this.block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
      this.blockUsed = 0;
    }
    const buf = this.block.subarray(this.blockUsed, this.blockUsed + len);
    this.blockUsed += len;
    return buf;
  }

  /** The oldest seq held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.chunks[this.start]?.first;
  }

  /** Up to `max` records from `fromSeq` on, or undefined when the tail does not hold `fromSeq`. */
  read(fromSeq: number, max: number): JournalRecord[] | undefined {
    let i = this.find(fromSeq);
    if (i < 0) return undefined;
    const out: JournalRecord[] = [];
    let seq = fromSeq;
    for (; i < this.chunks.length && out.length < max; i++) {
      const c = this.chunks[i]!;
      const n = c.offs.length - 1;
      for (let k = seq - c.first; k < n && out.length < max; k++) out.push(new FrameRecord(c.buf, c.offs[k]!, c.offs[k + 1]! - c.offs[k]!));
      seq = c.first + n;
    }
    return out;
  }

  /** Forgets everything (the log's files changed under it). */
  clear(): void {
    this.block = undefined;
    this.chunks = [];
    this.start = 0;
    this.bytes = 0;
  }

  /** Index of the chunk holding `seq`, or -1. */
  private find(seq: number): number {
    let lo = this.start;
    let hi = this.chunks.length - 1;
    if (hi < lo || seq < this.chunks[lo]!.first) return -1;
    const last = this.chunks[hi]!;
    if (seq >= last.first + last.offs.length - 1) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunks[mid]!.first <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
