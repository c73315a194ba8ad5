/**
 * The ack path: every message from every source passes here, one at a time, and is
 * acknowledged only once it is safe (docs/architecture.md, "Delivery guarantees"):
 *
 *   decode (validation) → bad: counted, dead-lettered once, acked, never journaled
 *                       → good: journal.stage(raw) … journal.flush() → msg.ack()
 *
 * Decoding here keeps junk out of the journal (it costs no quota and no disk writes) and
 * reports it once and at once, whichever outputs are up; the readings are handed to the
 * drains through the DecodedCache so that a drain at the head does not decode again.
 *
 * Batching: the messages of one event-loop turn are staged and written with one
 * `journal.flush()` (one write(2)) at the end of the turn (setImmediate), or as soon as
 * `flushBytes` are staged; then they are acked. While no ack waits for the write (QoS 0
 * messages only), the write waits up to `groupMs` for more messages instead: one write
 * for many turns' messages (group commit); the first message that needs an ack brings it
 * forward to the end of that turn. A source that cannot wait for the end of
 * the turn (mqtt.js reads a connection's next packet only after the ack) acks at once and
 * holds the ack's bytes behind `ackBarrier` (ack-barrier.ts), released after the flush.
 * When the flush fails, its messages are held like refused ones (below) and the early
 * acks are thrown away with their connections.
 *
 * When the append is refused (policy `block` at the quota, or a disk error), the message
 * is held unacknowledged, with every later one behind it in order, and the append is
 * retried when a drain frees space (`retry()`) or every `retryMs`. Unacked messages stop
 * their source reading, so the broker or the publisher keeps the data: that is the
 * backpressure, and it bounds what is held here. mqtt.js reads a connection's next packet
 * only after the ack; the embedded broker stops reading a client's socket when 100
 * (`maxHeldPerClient`) of its publishes are still held at the end of a turn, so it holds
 * that many, plus what that turn's reads brought in (at most about one 64 KiB socket read
 * of packets); a serial port pauses at `max_unacked` frames. A hold longer than the connection's keepalive drops it: from an
 * external broker, the ack also holds the PINGRESP back; the embedded broker reads no
 * PINGREQ from a socket it does not read, and aedes closes it after 1.5 × the client's
 * keepalive. The client or source reconnects and the unacked messages are sent again; the
 * held copies are still written once the hold ends, so they may arrive twice (QoS 1).
 */
import type { Journal } from '../journal/journal.js';
import { FATAL_SPOOL_CODES } from '../journal/spool-dir.js';
import type { ErrorCode } from '../util/errors.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import type { DecodedCache } from './decoded-cache.js';
import { AckBarrier } from './ack-barrier.js';
import { decodeError, isDecodeError, type DecodeError, type RawMessage, type Reading } from '../types.js';

export interface IngestOptions {
  readonly journal: Journal;
  readonly decode: (msg: RawMessage) => Reading[] | DecodeError;
  /** Topics that carry no readings (`ignore:`): counted as `messages_ignored`, acked, nothing else. */
  readonly ignore?: (topic: string) => boolean;
  /** A message that does not decode (count, log, dead-letter); it is acked afterwards. */
  readonly onBadMessage: (msg: RawMessage, err: DecodeError) => void;
  /** An append failed in a way that will not pass (read-only filesystem, directory removed, no permission). */
  readonly onFatal?: (err: unknown) => void;
  readonly cache: DecodedCache;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Retry interval for held messages; default 200 ms. */
  readonly retryMs?: number;
  readonly now?: () => number;
  /** Staged bytes that make the journal write at once instead of at the end of the turn; default 256 KiB. */
  readonly flushBytes?: number;
  /** How long a write may wait for more messages while no ack waits for it; default DEFAULT_GROUP_MS, 0: end of turn. */
  readonly groupMs?: number;
}

/**
 * How long a journal write waits for more messages while only QoS 0 messages (nothing to
 * acknowledge) are staged. 10 ms: half the write(2)s and drain wake-ups of 5 ms (about 6 %
 * less CPU per reading at 10k/s QoS 0, measured), still a tenth of the default fsync
 * interval, the most a power cut costs anyway.
 */
export const DEFAULT_GROUP_MS = 10;

/** Why messages are held unacknowledged, since when (ms), and the journal's error if it threw. */
export interface Refusal {
  readonly reason: 'quota' | 'disk_full' | 'error';
  readonly since: number;
  readonly error?: string;
}

interface Held {
  readonly msg: RawMessage;
  readonly readings: Reading[];
}

export class Ingest {
  /** For sources that ack before the journal write (see the module comment). */
  readonly ackBarrier = new AckBarrier(() => this.flushSoon());
  /** A queue: `held[heldFirst…]` wait; taken entries are cleared to free their messages. */
  private held: (Held | undefined)[] = [];
  private heldFirst = 0;
  /** Staged since the last flush, in order; `deferred` are the ones still to ack. */
  private staged: Held[] = [];
  private deferred: RawMessage[] = [];
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private groupTimer: ReturnType<typeof setTimeout> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private blockedSince: number | undefined;
  private reason: Refusal['reason'] = 'quota';
  private lastError: string | undefined;
  private stopped = false;
  private readonly errorLog = new RateLimiter(10_000);
  private readonly now: () => number;
  private readonly flushBytes: number;
  private readonly groupMs: number;
  private readonly received = new Map<string, (by?: number) => void>();
  private readonly decoded = new Map<string, (by?: number) => void>();
  private readonly ignored = new Map<string, (by?: number) => void>();

  constructor(private readonly opts: IngestOptions) {
    this.now = opts.now ?? Date.now;
    this.flushBytes = opts.flushBytes ?? 256 * 1024;
    this.groupMs = opts.groupMs ?? DEFAULT_GROUP_MS;
  }

  /** Messages held unacknowledged because the journal refused them. */
  get holding(): number {
    return this.held.length - this.heldFirst;
  }

  /** Why messages are held unacknowledged (undefined while appends work). */
  get refusal(): Refusal | undefined {
    if (this.blockedSince === undefined) return undefined;
    return { reason: this.reason, since: this.blockedSince, ...(this.reason === 'error' && this.lastError !== undefined && { error: this.lastError }) };
  }

  /** The hot path: called for every message from every source. */
  accept(msg: RawMessage): void {
    if (this.stopped) return; // not acked: the source is closing, the sender keeps it
    perSource(this.received, this.opts.counters, 'messages_received', msg.sourceId)();
    if (this.opts.ignore?.(msg.topic)) {
      perSource(this.ignored, this.opts.counters, 'messages_ignored', msg.sourceId)();
      msg.ack();
      return;
    }
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
    perSource(this.decoded, this.opts.counters, 'messages_decoded', msg.sourceId)();
    if (this.holding > 0 || !this.stage({ msg, readings: r })) this.hold({ msg, readings: r });
    else if (this.opts.journal.stagedBytes >= this.flushBytes) this.flush();
  }

  /** Space may have been freed: appends the held messages now, in order. */
  retry(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.holding > 0 && !this.stopped) {
      const h = this.held[this.heldFirst];
      if (h === undefined || !this.stage(h)) break;
      this.held[this.heldFirst++] = undefined;
      if (this.opts.journal.stagedBytes >= this.flushBytes && !this.flush()) break;
    }
    if (!this.flush() || this.holding > 0) {
      this.schedule();
      return;
    }
    this.held = [];
    this.heldFirst = 0;
    if (this.blockedSince !== undefined) {
      this.opts.logger.info({ blocked_ms: this.now() - this.blockedSince }, 'spool: room again, acknowledging messages');
      this.blockedSince = undefined;
    }
  }

  /**
   * Writes what is staged (one journal write) and acks it; false when the write failed
   * (its messages are held, the early acks thrown away). Normally run at the end of the
   * turn; call it directly to write at once.
   */
  flush(): boolean {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.groupTimer !== undefined) clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    const staged = this.staged;
    if (staged.length === 0) {
      this.ackBarrier.release(); // acks of bad messages, nothing to wait for
      return true;
    }
    let ok = false;
    try {
      ok = this.opts.journal.flush() === 'ok';
      if (!ok) this.reason = 'disk_full';
    } catch (err) {
      this.appendFailed(err);
    }
    const deferred = this.deferred;
    this.staged = [];
    this.deferred = [];
    if (ok) {
      this.ackBarrier.release();
      for (const m of deferred) m.ack();
      return true;
    }
    this.ackBarrier.abort(new Error('journal write failed: acks withdrawn'));
    // Back to the front of the queue, before anything held since (all of it arrived later).
    this.held = [...staged, ...this.held.slice(this.heldFirst)];
    this.heldFirst = 0;
    this.noteBlocked();
    return false;
  }

  /** Takes no more messages; what is staged is written and acked; held ones are let go unacknowledged (their senders keep them). Returns how many. */
  stop(): number {
    if (!this.stopped) this.flush();
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const n = this.holding;
    this.held = [];
    this.heldFirst = 0;
    return n;
  }

  /** Stages one message for the next journal write; false when the journal refused it. */
  private stage(h: Held): boolean {
    let seq;
    try {
      seq = this.opts.journal.stage(h.msg);
    } catch (err) {
      this.appendFailed(err);
      return false;
    }
    if (seq === 'full') {
      this.reason = 'quota';
      return false;
    }
    this.opts.cache.put(seq, h.readings);
    this.staged.push(h);
    if (h.msg.ackGated === true) h.msg.ack();
    else this.deferred.push(h.msg);
    this.flushSoon();
    return true;
  }

  private flushSoon(): void {
    if (this.immediate !== undefined) return;
    const waiting = this.deferred.length > 0 || this.ackBarrier.holding > 0;
    if (!waiting && this.groupMs > 0) {
      this.groupTimer ??= setTimeout(() => this.flush(), this.groupMs);
      return;
    }
    if (this.groupTimer !== undefined) clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    this.immediate = setImmediate(() => this.flush());
  }

  private appendFailed(err: unknown): void {
    this.reason = (err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' ? 'disk_full' : 'error';
    this.lastError = err instanceof Error ? err.message : String(err);
    const suppressed = this.errorLog.take('append');
    if (suppressed >= 0)
      this.opts.logger.error(
        { code: SPOOL_CODES[this.reason], err, suppressed },
        'spool: cannot append to the journal; messages are not acknowledged until it works again',
      );
    this.opts.counters.inc('journal_append_errors');
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code !== undefined && FATAL_SPOOL_CODES.has(code)) this.opts.onFatal?.(err);
  }

  private hold(h: Held): void {
    this.held.push(h);
    this.noteBlocked();
  }

  private noteBlocked(): void {
    if (this.blockedSince === undefined) {
      this.blockedSince = this.now();
      const why =
        this.reason === 'disk_full'
          ? 'the disk is full'
          : this.reason === 'quota'
            ? 'the journal is at its quota (policy block)'
            : `appending fails (${this.lastError ?? 'unknown error'})`;
      this.opts.logger.warn(
        { code: SPOOL_CODES[this.reason], reason: this.reason },
        `spool: ${why}: not acknowledging messages; the brokers and publishers keep them`,
      );
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer === undefined && !this.stopped) this.timer = setTimeout(() => this.retry(), this.opts.retryMs ?? 200);
  }
}

/** The code (docs/troubleshooting.md) of each reason appends are refused. */
const SPOOL_CODES: Readonly<Record<Refusal['reason'], ErrorCode>> = {
  quota: 'EFX_SPOOL_QUOTA',
  disk_full: 'EFX_SPOOL_DISK_FULL',
  error: 'EFX_SPOOL_APPEND_FAILED',
};

/** The incrementer of counter `name{source}`, made once per source and kept in `cache`. */
function perSource(
  cache: Map<string, (by?: number) => void>,
  counters: Counters,
  name: 'messages_received' | 'messages_decoded' | 'messages_ignored',
  source: string,
): (by?: number) => void {
  let c = cache.get(source);
  if (c === undefined) {
    c = counters.counter(name, { source });
    cache.set(source, c);
  }
  return c;
}
