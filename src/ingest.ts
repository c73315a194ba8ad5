/**
 * The ack path: every message from every source passes here, one at a time, and is
 * acknowledged only once it is safe (DESIGN.md, "Delivery guarantees"):
 *
 *   decode (validation) → bad: counted, dead-lettered once, acked, never journaled
 *                       → good: journal.append(raw) → msg.ack()
 *
 * Decoding here keeps junk out of the journal (it costs no quota and no disk writes) and
 * reports it once and at once, whichever outputs are up; the readings are handed to the
 * drains through the DecodedCache so that a drain at the head does not decode again.
 *
 * When the append is refused (policy `block` at the quota, or a disk error), the message
 * is held unacknowledged, with every later one behind it in order, and the append is
 * retried when a drain frees space (`retry()`) or every `retryMs`. An unacked message
 * stops its source reading (mqtt.js and aedes read the next packet of a connection only
 * after the ack), so the broker or the publisher keeps the data: that is the
 * backpressure. A hold longer than the connection's keepalive drops it (the ack also
 * holds the PINGRESP back); the source reconnects and the broker redelivers.
 */
import type { Journal } from './journal/journal.js';
import type { Counters } from './observe/counters.js';
import type { Logger } from './observe/logger.js';
import { RateLimiter } from './observe/rate-limit.js';
import type { DecodedCache } from './sink/decoded-cache.js';
import { decodeError, isDecodeError, type DecodeError, type RawMessage, type Reading } from './types.js';

export interface IngestOptions {
  readonly journal: Journal;
  readonly decode: (msg: RawMessage) => Reading[] | DecodeError;
  /** A message that does not decode (count, log, dead-letter); it is acked afterwards. */
  readonly onBadMessage: (msg: RawMessage, err: DecodeError) => void;
  readonly cache: DecodedCache;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Retry interval for held messages; default 200 ms. */
  readonly retryMs?: number;
  readonly now?: () => number;
}

interface Held {
  readonly msg: RawMessage;
  readonly readings: Reading[];
}

export class Ingest {
  private held: Held[] = [];
  private heldFirst = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private blockedSince: number | undefined;
  private stopped = false;
  private readonly errorLog = new RateLimiter(10_000);
  private readonly now: () => number;

  constructor(private readonly opts: IngestOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Messages held unacknowledged because the journal refused them. */
  get holding(): number {
    return this.held.length - this.heldFirst;
  }

  /** The hot path: called for every message from every source. */
  accept(msg: RawMessage): void {
    if (this.stopped) return; // not acked: the source is closing, the sender keeps it
    this.opts.counters.inc('messages_received', { source: msg.sourceId });
    let r: Reading[] | DecodeError;
    try {
      r = this.opts.decode(msg);
    } catch (e) {
      r = decodeError('internal_error', e instanceof Error ? e.message : String(e));
    }
    if (isDecodeError(r)) {
      this.opts.onBadMessage(msg, r);
      msg.ack();
      return;
    }
    if (this.holding > 0 || !this.append(msg, r)) this.hold({ msg, readings: r });
  }

  /** Space may have been freed: appends the held messages now, in order. */
  retry(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.holding > 0 && !this.stopped) {
      const h = this.held[this.heldFirst] as Held;
      if (!this.append(h.msg, h.readings)) {
        this.schedule();
        return;
      }
      this.held[this.heldFirst++] = undefined as unknown as Held;
    }
    this.held = [];
    this.heldFirst = 0;
    if (this.blockedSince !== undefined) {
      this.opts.logger.info({ blocked_ms: this.now() - this.blockedSince }, 'spool: room again, acknowledging messages');
      this.blockedSince = undefined;
    }
  }

  /** Takes no more messages; held ones are let go unacknowledged (their senders keep them). Returns how many. */
  stop(): number {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const n = this.holding;
    this.held = [];
    this.heldFirst = 0;
    return n;
  }

  private append(msg: RawMessage, readings: Reading[]): boolean {
    let seq;
    try {
      seq = this.opts.journal.append(msg);
    } catch (err) {
      const suppressed = this.errorLog.take('append');
      if (suppressed >= 0) this.opts.logger.error({ err, suppressed }, 'spool: cannot append to the journal; messages are not acknowledged until it works again');
      this.opts.counters.inc('journal_append_errors');
      return false;
    }
    if (seq === 'full') return false;
    this.opts.cache.put(seq, readings);
    msg.ack();
    return true;
  }

  private hold(h: Held): void {
    this.held.push(h);
    if (this.blockedSince === undefined) {
      this.blockedSince = this.now();
      this.opts.logger.warn('spool: journal full (policy block) or failing: not acknowledging messages; the brokers and publishers keep them');
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer === undefined && !this.stopped) this.timer = setTimeout(() => this.retry(), this.opts.retryMs ?? 200);
  }
}
