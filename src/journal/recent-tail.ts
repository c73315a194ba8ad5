/**
 * The newest journal records kept in memory, as staged (payloads copied once, source id and
 * topic as their ids in the segment's dictionary), so that a drain keeping up with the head
 * reads them back without a read(2) or a block decode: the common case, where every output
 * is up and follows the ingest.
 *
 * Bounded by bytes (`maxBytes`, at least the newest batch is kept); the oldest records
 * go first. Reads are served only when the tail holds the first seq asked for, and they
 * never go past the tail's end (the log's head), so the answer is the one the segment
 * files would give. The bytes never left memory, so checksums are not verified again.
 *
 * Layout: the payloads of consecutive batches are copied one after the other into 256 KiB
 * blocks, and each block keeps one table per field for all its records (a Run). Not an
 * object per batch or record: a batch stays here long enough to be promoted by V8's young
 * generation, and thousands of small promoted objects a second (at 20k/s QoS 1 a batch is a
 * handful of messages) cost ~400 B of heap each and only go at the next full GC. A block
 * is freed once every record in it has left the tail (and no record read from it is held).
 */
import { BlockRecord } from './block-codec.js';
import type { JournalEntry, JournalRecord } from './journal.js';

const BLOCK_BYTES = 256 * 1024;
const INITIAL_RECORDS = 1024;
/** What a record costs the tail besides its payload (its table entries), for the budget. */
const RECORD_BYTES = 24;

/** The records of one write, as the tail takes them: the entries and their dictionary ids. */
export interface TailBatch {
  readonly entries: readonly JournalEntry[];
  readonly srcIds: Uint32Array;
  readonly topicIds: Uint32Array;
}

/** Consecutive records `first`, `first + 1`, … copied into one buffer, their strings from one dictionary. */
class Run {
  count = 0;
  used = 0;
  /** Start offset of each payload, plus the end: `offs[count] === used`. */
  private offs = new Uint32Array(INITIAL_RECORDS + 1);
  private src = new Uint32Array(INITIAL_RECORDS);
  private topic = new Uint32Array(INITIAL_RECORDS);
  private times = new BigInt64Array(INITIAL_RECORDS);

  constructor(
    readonly first: number,
    readonly buf: Buffer,
    readonly strings: readonly (string | undefined)[],
  ) {}

  /** The seq after the last record held. */
  get end(): number {
    return this.first + this.count;
  }

  fits(len: number): boolean {
    return this.used + len <= this.buf.length;
  }

  append(b: TailBatch): void {
    const n = b.entries.length;
    const need = this.count + n;
    if (need + 1 > this.offs.length) this.grow(Math.max(need + 1, this.offs.length * 2));
    let at = this.used;
    for (let i = 0; i < n; i++) {
      const e = b.entries[i]!;
      const k = this.count + i;
      this.buf.set(e.payload, at);
      at += e.payload.length;
      this.offs[k + 1] = at;
      this.src[k] = b.srcIds[i]!;
      this.topic[k] = b.topicIds[i]!;
      this.times[k] = e.receivedAt;
    }
    this.count = need;
    this.used = at;
  }

  /** Bytes of record `seq` (held by this run). */
  bytesOf(seq: number): number {
    const k = seq - this.first;
    return this.offs[k + 1]! - this.offs[k]! + RECORD_BYTES;
  }

  record(seq: number): BlockRecord {
    const k = seq - this.first;
    return new BlockRecord(seq, this.strings[this.src[k]!]!, this.strings[this.topic[k]!]!, this.buf, this.offs[k]!, this.offs[k + 1]!, this.times[k]!, 0);
  }

  private grow(size: number): void {
    const offs = new Uint32Array(size);
    offs.set(this.offs.subarray(0, this.count + 1));
    this.offs = offs;
    for (const f of ['src', 'topic'] as const) {
      const a = new Uint32Array(size);
      a.set(this[f].subarray(0, this.count));
      this[f] = a;
    }
    const t = new BigInt64Array(size);
    t.set(this.times.subarray(0, this.count));
    this.times = t;
  }
}

export class RecentTail {
  /** Oldest first; `runs[start]` holds `oldest`, the last one takes new batches. */
  private runs: (Run | undefined)[] = [];
  private start = 0;
  private oldest = 0;
  private bytes = 0;

  constructor(private readonly maxBytes = 2 * 1024 * 1024) {}

  /**
   * Keeps the records of `batch`, holding seqs `first`, `first + 1`, …, whose ids name
   * entries of `strings` (the segment's dictionary, which only grows).
   */
  add(first: number, batch: TailBatch, strings: readonly (string | undefined)[]): void {
    let run = this.runs.length > this.start ? this.runs[this.runs.length - 1] : undefined;
    if (run !== undefined && run.end !== first) {
      this.clear(); // not the next seq: the log changed under the tail (it holds runs of consecutive seqs only)
      run = undefined;
    }
    let len = 0;
    for (const e of batch.entries) len += e.payload.length;
    if (run === undefined || !run.fits(len) || run.strings !== strings) {
      if (run === undefined) this.oldest = first;
      run = new Run(first, Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, len)), strings);
      this.runs.push(run);
    }
    run.append(batch);
    this.bytes += len + batch.entries.length * RECORD_BYTES;
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
