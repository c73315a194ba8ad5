import { Observable, type Subscriber } from '../util/rx.js';
import type { RawMessage, SourceStatus } from '../types.js';
import { backoffDelay } from '../util/backoff.js';

export type { RawMessage, SourceStatus } from '../types.js';

/**
 * Something that brings messages in from the outside (an MQTT broker connection, the
 * embedded broker, a serial port) and owns that connection's life.
 *
 * Flow control is the ack: a source hands out a message and does not acknowledge it
 * (MQTT PUBACK/PUBREC) before `msg.ack()` is called, and stops reading a connection that
 * has a bounded number of messages unacknowledged: mqtt.js one (it reads the next packet
 * after the ack), the embedded broker `maxHeldPerClient` per client (it stops reading the
 * socket), a serial port `max_unacked` frames. So a slow consumer holds data at the
 * sender, not in our heap.
 */
export interface Source {
  readonly id: string;
  /**
   * Hot: `start()`/`stop()` own the connection, not the subscription. One subscriber at
   * a time (a second one gets an error). Messages that arrive while nobody is
   * subscribed are held, unacknowledged (which stops further reading), and delivered to
   * the next subscriber. `stop()` completes the current subscriber; a later subscriber
   * waits for the next `start()`. Subscribe before `start()` so nothing waits.
   */
  messages(): Observable<RawMessage>;
  /** Current state first, then every change. */
  readonly status$: Observable<SourceStatus>;
  /** Resolves once the source is up, or, for remote brokers, once the first attempt failed (it keeps retrying). */
  start(): Promise<void>;
  /** Closes everything within a bounded time and frees every timer and listener. Unacked messages are not acknowledged. */
  stop(): Promise<void>;
}

/**
 * The single-subscriber hot stream behind `Source.messages()`: hands messages to the
 * current subscriber, holds them (in arrival order) while there is none.
 * The held list stays small because unacked messages stop the source reading (above).
 */
export class MessageOutlet {
  private subscriber: Subscriber<RawMessage> | undefined;
  private held: RawMessage[] = [];

  constructor(private readonly sourceId: string) {}

  readonly messages$ = new Observable<RawMessage>((sub) => {
    if (this.subscriber) {
      sub.error(new Error(`source ${this.sourceId}: messages() already has a subscriber`));
      return;
    }
    this.subscriber = sub;
    this.drain();
    return () => {
      if (this.subscriber === sub) this.subscriber = undefined;
    };
  });

  /** Hands one message on (the hot path: no allocation beyond the caller's). */
  push(msg: RawMessage): void {
    const sub = this.subscriber;
    if (sub !== undefined && this.held.length === 0) sub.next(msg);
    else {
      this.held.push(msg);
      this.drain();
    }
  }

  /** Messages waiting for a subscriber. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Completes the current subscriber and forgets held messages (they stay unacknowledged). */
  complete(): void {
    this.held = [];
    const sub = this.subscriber;
    this.subscriber = undefined;
    sub?.complete();
  }

  private drain(): void {
    while (this.held.length > 0) {
      const sub = this.subscriber;
      if (sub === undefined || sub.closed) return;
      sub.next(this.held.shift()!);
    }
  }
}

/** One pending retry at a time, on `setTimeout`, waiting util/backoff.ts's delays; `reset()` after a success, `cancel()` on stop. */
export class RetryTimer {
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Schedules `fn` after the next backoff delay (replacing a pending one); returns the delay. */
  schedule(fn: () => void): number {
    this.cancel();
    const delay = backoffDelay(this.attempt++, { initialMs: this.initialMs, maxMs: this.maxMs, random: this.random });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, delay);
    return delay;
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
