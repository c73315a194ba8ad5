import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { RawMessage, Source, SourceStatus } from '../../src/sources/source.js';

/**
 * A source whose message stream a test can make fail (`fail()`), as a bug or an
 * unexpected error inside a real source would. Each `start()` opens a new stream.
 */
export class FlakySource implements Source {
  starts = 0;
  stops = 0;
  /** When set, the next start() fails with it after ending its stream (as a broker whose port is taken). */
  failNextStart: Error | undefined;
  private stream = new Subject<RawMessage>();
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });

  constructor(readonly id: string) {}

  get status$(): Observable<SourceStatus> {
    return this.status;
  }

  messages(): Observable<RawMessage> {
    return this.stream;
  }

  async start(): Promise<void> {
    this.starts++;
    const err = this.failNextStart;
    if (err) {
      this.failNextStart = undefined;
      await this.stop();
      throw err;
    }
    this.status.next({ state: 'up' });
  }

  async stop(): Promise<void> {
    this.stops++;
    this.stream.complete();
    this.stream = new Subject<RawMessage>();
    this.status.next({ state: 'closed' });
  }

  emit(topic: string, payload: string): void {
    this.stream.next({ sourceId: this.id, topic, payload: Buffer.from(payload), receivedAt: BigInt(Date.now()) * 1_000_000n, ack: () => undefined });
  }

  fail(err = new Error('boom')): void {
    this.stream.error(err);
    this.stream = new Subject<RawMessage>();
  }
}
