/**
 * Seqs missing from a drain's journal reads. Below the journal's oldest record the quota
 * dropped them; at or above it they should be there, so the first time such a gap is
 * read again (the journal may have changed under the read), the second time it is
 * counted as damaged. Either way the loss is counted per output and reason
 * (`messages_dropped`) and logged, rate-limited.
 */
import type { Journal } from '../journal/journal.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';

export type GapReason = 'quota' | 'damaged';

export class JournalGaps {
  private suspect: number | undefined;
  private readonly log = new RateLimiter(10_000);

  constructor(
    private readonly id: string,
    private readonly journal: Pick<Journal, 'stats'>,
    private readonly counters: Counters,
    private readonly logger: Logger,
  ) {}

  /**
   * Seqs `from` to `to - 1` are missing from a read: false the first time for a gap the
   * quota does not explain (stop this read here and read again from `from`); true once
   * the gap is counted (go on past it).
   */
  accept(from: number, to: number): boolean {
    const dropped = from < this.journal.stats().oldestSeq;
    if (!dropped && this.suspect !== from) {
      this.suspect = from;
      this.logger.warn({ from, to }, `output ${this.id}: the journal skipped seqs ${from}..${to - 1} in a read; reading them again`);
      return false;
    }
    this.suspect = undefined;
    this.count(to - from, dropped ? 'quota' : 'damaged');
    return true;
  }

  /** Counts `n` messages lost for `reason` and logs it (rate-limited per reason). */
  count(n: number, reason: GapReason): void {
    this.counters.inc('messages_dropped', { output: this.id, reason }, n);
    const total = this.counters.get('messages_dropped', { output: this.id, reason });
    const why = reason === 'quota' ? 'dropped by the spool quota' : 'missing from the journal (damaged)';
    if (this.log.take(reason) >= 0)
      this.logger.warn({ dropped: n, total, reason }, `output ${this.id}: ${n} messages ${why} before they could be written (${total} in all)`);
  }
}
