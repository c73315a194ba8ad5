/**
 * The newest journal records kept in memory, exactly as written (the frames of each
 * batch write, copied once), so that a drain keeping up with the head reads them back
 * without a read(2): the common case, where every output is up and follows the ingest.
 *
 * Bounded by bytes (`maxBytes`, at least the newest batch is kept); the oldest records
 * go first. Reads are served only when the tail holds the first seq asked for, and they
 * never go past the tail's end (the log's head), so the answer is the one the segment
 * files would give. The bytes never left memory, so checksums are not verified again.
 *
 * Layout: consecutive batches are copied one after the other into 256 KiB blocks, and each
 * block keeps one offset table for all its records (a Run). Not a buffer per batch: a
 * batch stays here long enough to be promoted by V8's young generation, and thousands of
 * small promoted objects a second (at 20k/s QoS 1 a batch is a handful of messages) cost
 * ~400 B of heap each and only go at the next full GC. A block is freed once every record
 * in it has left the tail (and no record read from it is held).
 */
import type { JournalRecord } from './journal.js';
import { FrameRecord } from './record-codec.js';

const BLOCK_BYTES = 256 * 1024;
const INITIAL_RECORDS = 1024;

/** Consecutive records `first`, `first + 1`, … copied into one buffer. */
class Run {
  count = 0;
  used = 0;
  /** Start offset of each record, plus the end: `offs[count] === used`. */
  private offs = new Uint32Array(INITIAL_RECORDS + 1);

  constructor(
    readonly first: number,
    readonly buf: Buffer,
  ) {}

  /** The seq after the last record held. */
  get end(): number {
    return this.first + this.count;
  }

  fits(len: number): boolean {
    return this.used + len <= this.buf.length;
  }

  append(src: Buffer, len: number, lens: readonly number[]): void {
    src.copy(this.buf, this.used, 0, len);
    const need = this.count + lens.length + 1;
    if (need > this.offs.length) {
      const grown = new Uint32Array(Math.max(need, this.offs.length * 2));
      grown.set(this.offs.subarray(0, this.count + 1));
      this.offs = grown;
    }
    let at = this.used;
    for (let i = 0; i < lens.length; i++) this.offs[++this.count] = at += lens[i]!;
    this.used = at;
  }

  /** Bytes of record `seq` (held by this run). */
  bytesOf(seq: number): number {
    const k = seq - this.first;
    return this.offs[k + 1]! - this.offs[k]!;
  }

  record(seq: number): FrameRecord {
    const k = seq - this.first;
    const at = this.offs[k]!;
    return new FrameRecord(this.buf, at, this.offs[k + 1]! - at);
  }
}

export class RecentTail {
  /** Oldest first; `runs[start]` holds `oldest`, the last one takes new batches. */
  private runs: (Run | undefined)[] = [];
  private start = 0;
  private oldest = 0;
  private bytes = 0;

  constructor(private readonly maxBytes = 2 * 1024 * 1024) {}

  /** Keeps the frames `src[0, len)` of lengths `lens`, holding seqs `first`, `first + 1`, … */
  add(first: number, src: Buffer, len: number, lens: readonly number[]): void {
    let run = this.runs.length > this.start ? this.runs[this.runs.length - 1] : undefined;
    if (run !== undefined && run.end !== first) {
      this.clear(); // not the next seq: the log changed under the tail (it holds runs of consecutive seqs only)
      run = undefined;
    }
    if (run === undefined || !run.fits(len)) {
      if (run === undefined) this.oldest = first;
      run = new Run(first, Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, len)));
      this.runs.push(run);
    }
    run.append(src, len, lens);
    this.bytes += len;
    while (this.bytes > this.maxBytes && this.oldest < first) {
      const r = this.runs[this.start]!;
      this.bytes -= r.bytesOf(this.oldest);
      if (++this.oldest === r.end) this.runs[this.start++] = undefined;
    }
    if (this.start > 64 && this.start * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.start);
      this.start = 0;
    }
  }

  /** The oldest seq held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.runs.length > this.start ? this.oldest : undefined;
  }

  /** Up to `max` records from `fromSeq` on, or undefined when the tail does not hold `fromSeq`. */
  read(fromSeq: number, max: number): JournalRecord[] | undefined {
    let i = this.find(fromSeq);
    if (i < 0) return undefined;
    const out: JournalRecord[] = [];
    for (let seq = fromSeq; i < this.runs.length && out.length < max; i++) {
      const r = this.runs[i]!;
      for (; seq < r.end && out.length < max; seq++) out.push(r.record(seq));
    }
    return out;
  }

  /** Forgets everything (the log's files changed under it). */
  clear(): void {
    this.runs = [];
    this.start = 0;
    this.bytes = 0;
  }

  /** Index of the run holding `seq`, or -1. */
  private find(seq: number): number {
    let lo = this.start;
    let hi = this.runs.length - 1;
    if (hi < lo || seq < this.oldest || seq >= this.runs[hi]!.end) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runs[mid]!.first <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
