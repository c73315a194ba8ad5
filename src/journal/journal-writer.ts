/**
 * The append path of a FileJournal (file-journal.ts).
 *
 * `stage` keeps the entry for the next write (quota checked there, against the size of a
 * format-1 frame: more than a block takes); `flush` encodes the staged records as blocks
 * against the active segment's dictionary, hands them to the OS with ONE write(2) on an
 * O_APPEND descriptor (survives kill -9 from then on; the fsync is SegmentLog's, per the
 * sync policy) and makes its records readable: in the recent tail at once, and announced to
 * `onAppend` listeners in a microtask. A failed write takes back the dictionary entries it
 * defined. A segment is rotated once it holds `segmentBytes` or its dictionary is full.
 *
 * Refusals: under `block` at the quota, and under either policy when the disk itself is
 * full (drop-oldest first frees its oldest segment and tries once more), `flush` returns
 * 'full' (counter journal_refused_appends{reason: quota|disk_full}, a rate-limited warning).
 * An entry over 64 MiB, or one whose arrival time is outside int64, throws a RangeError.
 */
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import type { AppendResult, JournalEntry } from './journal.js';
import { MAX_BODY_BYTES, maxFrameBytes } from './record-codec.js';
import type { RecentTail } from './recent-tail.js';
import type { Retention } from './retention.js';
import type { DictMark, SegmentDict } from './segment-dict.js';
import type { SegmentLog } from './segment-log.js';
import { WriteBatch } from './write-batch.js';

export interface JournalWriterOptions {
  /** Quota over all segments, bytes. */
  readonly maxBytes: number;
  readonly policy: 'drop-oldest' | 'block';
  /** Size at which a segment is rotated. */
  readonly segmentBytes: number;
  readonly logger: Logger;
  readonly counters?: Counters | undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const WARN_EVERY_MS = 10_000;

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class JournalWriter {
  private readonly batch = new WriteBatch();
  private readonly warnLimit = new RateLimiter(WARN_EVERY_MS);
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;

  constructor(
    private readonly log: SegmentLog,
    private readonly retention: Retention,
    private readonly tail: RecentTail,
    private readonly opts: JournalWriterOptions,
  ) {}

  /** Keeps `entry` for the next `flush`: its seq, or 'full' when the quota refuses it. */
  stage(entry: JournalEntry): AppendResult {
    if (entry.payload.length > MAX_BODY_BYTES) throw new RangeError(`journal: payload of ${entry.payload.length} bytes exceeds ${MAX_BODY_BYTES}`);
    if (entry.receivedAt < INT64_MIN || entry.receivedAt > INT64_MAX) throw new RangeError(`journal: receivedAt ${entry.receivedAt} is outside int64`);
    const b = this.batch;
    // Quota checked against a format-1 frame's size: more than the block will take.
    const len = maxFrameBytes(entry);
    const pending = b.estimate + len;
    if (this.log.totalBytes + pending > this.opts.maxBytes && !this.retention.makeRoom(pending)) return this.refuse('quota');
    b.add(entry, len);
    return this.log.head + b.count - 1;
  }

  /** Bytes staged for the next write, about (a format-1 frame's size each). */
  get stagedBytes(): number {
    return this.batch.estimate;
  }

  /** Writes what is staged (one write(2)); 'full' when the disk is: the staged records are then forgotten. */
  flush(): 'ok' | 'full' {
    const b = this.batch;
    if (b.count === 0) return 'ok';
    // Encoded now, against the dictionary of the segment the blocks go to.
    const dict = this.log.active.dict!;
    const mark = dict.mark();
    let first: number;
    try {
      b.encode(this.log.head, dict);
      first = this.log.writeUnits(b.buf, b.len, b.unitLens, b.unitCounts, b.needsSync);
    } catch (err) {
      if (!isDiskFull(err)) return this.failBatch(dict, mark, err);
      // The disk filled before the quota: drop-oldest frees a segment and tries once more.
      if (this.opts.policy === 'block' || this.log.segments.length < 2) return this.dropBatch(dict, mark, err);
      this.retention.dropOldest();
      try {
        first = this.log.writeUnits(b.buf, b.len, b.unitLens, b.unitCounts, b.needsSync);
      } catch (again) {
        if (!isDiskFull(again)) return this.failBatch(dict, mark, again);
        return this.dropBatch(dict, mark, again);
      }
    }
    this.tail.add(first, b, dict.strings);
    b.clear();
    if (this.log.active.bytes >= this.opts.segmentBytes || dict.full) this.rotate();
    if (!this.notifyQueued && this.listeners.size > 0) {
      this.notifyQueued = true;
      queueMicrotask(() => this.notify());
    }
    return 'ok';
  }

  /** `listener` is called (in a microtask, once per burst of flushes) after records became readable. */
  onAppend(listener: () => void): () => void {
    const l = (): void => listener();
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  /** Forgets every `onAppend` listener (the journal closes). */
  clearListeners(): void {
    this.listeners.clear();
  }

  /** Starts a new active segment; on failure the active one grows on and the next append tries again. */
  rotate(): void {
    try {
      this.log.rotate();
    } catch (err) {
      if (this.warnLimit.take('rotate') >= 0) this.opts.logger.error({ err }, 'journal: could not start a new segment');
    }
  }

  /** Why an append was refused, counted and logged (rate-limited). */
  private refuse(reason: 'quota' | 'disk_full', err?: unknown): 'full' {
    this.opts.counters?.inc('journal_refused_appends', { reason });
    if (this.warnLimit.take(reason) >= 0) {
      const msg = reason === 'quota' ? 'journal: quota reached, refusing appends (policy block)' : 'journal: disk full, refusing appends';
      this.opts.logger.warn(
        { code: reason === 'quota' ? 'EFX_SPOOL_QUOTA' : 'EFX_SPOOL_DISK_FULL', err, maxBytes: this.opts.maxBytes, bytes: this.log.totalBytes },
        msg,
      );
    }
    return 'full';
  }

  /** The staged records could not be written: they are forgotten (their seqs are given again). */
  private dropBatch(dict: SegmentDict, mark: DictMark, err: unknown): 'full' {
    dict.rollback(mark);
    this.batch.clear();
    return this.refuse('disk_full', err);
  }

  private failBatch(dict: SegmentDict, mark: DictMark, err: unknown): never {
    dict.rollback(mark);
    this.batch.clear();
    throw err;
  }

  private notify(): void {
    this.notifyQueued = false;
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.opts.logger.error({ err }, 'journal: onAppend listener threw');
      }
    }
  }
}
