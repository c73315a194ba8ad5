/**
 * What a FileJournal keeps: segments every registered consumer has passed are deleted
 * (never with no consumer registered, never the active one), and the quota is enforced
 * by policy. `drop-oldest` deletes the oldest segments, counting for each consumer the
 * records it had not read (`journal_dropped_records{consumer}`; without labels when no
 * consumer is registered) and moving its cursor past them; `block` refuses.
 */
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import type { ConsumerCursors } from './consumer-cursors.js';
import type { SegmentLog } from './segment-log.js';
import type { Segment } from './segment.js';

export interface RetentionOptions {
  readonly maxBytes: number;
  readonly policy: 'drop-oldest' | 'block';
  readonly logger: Logger;
  readonly counters?: Counters;
  /** Starts a new active segment (errors handled by the caller). */
  readonly rotate: () => void;
  /** Told about each deleted segment. */
  readonly onDeleted: (seg: Segment) => void;
}

export class Retention {
  /** Records dropped by the quota, in total. */
  dropped = 0;
  private readonly warnLimit = new RateLimiter(10_000);

  constructor(
    private readonly log: SegmentLog,
    private readonly cursors: ConsumerCursors,
    private readonly opts: RetentionOptions,
  ) {}

  /** Deletes the segments every registered consumer has passed. */
  releasePassed(): void {
    if (this.cursors.size === 0) return;
    const min = this.cursors.min();
    const segs = this.log.segments;
    while (segs.length > 1 && segs[1]!.firstSeq <= min) this.deleteOldest();
  }

  /** Frees room for `len` more bytes under the quota; false when the policy refuses. */
  makeRoom(len: number): boolean {
    const fits = (): boolean => this.log.totalBytes + len <= this.opts.maxBytes;
    this.releasePassed();
    if (fits()) return true;
    if (this.cursors.size > 0 && this.cursors.min() >= this.log.head && this.log.active.records > 0) {
      // Everyone has read everything, the active segment too: retire it and free it.
      this.opts.rotate();
      this.releasePassed();
      if (fits()) return true;
    }
    if (this.opts.policy === 'block') return false;
    while (!fits() && this.log.segments.length > 1) this.dropOldest();
    // Only the active segment left: it may overshoot the quota by less than one segment.
    return true;
  }

  /** Deletes the oldest segment (not the active one), counting what it held that was unread. */
  dropOldest(): void {
    const segs = this.log.segments;
    if (segs.length < 2) return;
    const seg = segs[0]!;
    const next = segs[1]!.firstSeq;
    let lost: number;
    if (this.cursors.size === 0) {
      lost = seg.records;
      this.opts.counters?.inc('journal_dropped_records', undefined, lost);
    } else {
      lost = seg.countRecords(this.cursors.min(), next);
      for (const [id, c] of [...this.cursors.entries()]) {
        if (c >= next) continue;
        this.opts.counters?.inc('journal_dropped_records', { consumer: id }, seg.countRecords(c, next));
        this.cursors.advance(id, next);
      }
    }
    this.dropped += lost;
    this.deleteOldest();
    const suppressed = this.warnLimit.take('drop');
    if (suppressed >= 0) {
      this.opts.logger.warn(
        { dropped: lost, totalDropped: this.dropped, maxBytes: this.opts.maxBytes, oldestSeq: segs[0]!.firstSeq, suppressed },
        `journal: quota reached, dropped the oldest segment (policy ${this.opts.policy})`,
      );
    }
  }

  private deleteOldest(): void {
    const seg = this.log.deleteOldest();
    if (seg) this.opts.onDeleted(seg);
  }
}
