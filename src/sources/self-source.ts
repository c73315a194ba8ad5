/**
 * The readings edgeflux makes about itself (edgeflux_internal, device_status) enter the
 * daemon like any sensor's: as messages of a source, here one line-protocol message per
 * batch. So they are journaled, reach every output through its own cursor, survive an
 * outage, and need no second write path. The daemon decodes them with `decodeSelf`
 * instead of the rules (no user rule has to match `$edgeflux/self`).
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import { decodeLineProtocol } from '../devices/decode-line-protocol.js';
import type { Counters } from '../observe/counters.js';
import { SELF_SOURCE_ID, SELF_TOPIC, type DecodeError, type MessageData, type RawMessage, type Reading, type SourceStatus } from '../types.js';
import { MessageOutlet, type Source } from './source.js';

export { SELF_SOURCE_ID, SELF_TOPIC, isSelfMessage } from '../types.js';
/** Messages waiting for a subscriber, at most (more are dropped and counted). */
const MAX_HELD = 100;

export class SelfSource implements Source {
  readonly id = SELF_SOURCE_ID;
  private readonly outlet = new MessageOutlet(SELF_SOURCE_ID);
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });
  private running = false;

  constructor(
    private readonly opts: {
      readonly counters?: Counters;
      /** One reading as a line of line protocol, or null when it has no field (the sink's encodeLine). */
      readonly encode: (r: Reading) => string | null;
      /** Arrival time in ns (the daemon's Clock.arrivalNs). */
      readonly arrivalNs: () => bigint;
    },
  ) {}

  get status$(): Observable<SourceStatus> {
    return this.status;
  }

  messages(): Observable<RawMessage> {
    return this.outlet.messages$;
  }

  async start(): Promise<void> {
    this.running = true;
    this.status.next({ state: 'up' });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.outlet.complete();
    this.status.next({ state: 'closed' });
  }

  /** Hands readings on as one message; outside start()…stop(), or when nobody takes them, they are dropped and counted. */
  emit(readings: readonly Reading[]): void {
    const lines = readings.map((r) => this.opts.encode(r)).filter((l): l is string => l !== null);
    if (lines.length === 0) return;
    if (!this.running || this.outlet.heldCount >= MAX_HELD) {
      this.opts.counters?.inc('readings_dropped', { reason: 'self_not_running' }, lines.length);
      return;
    }
    this.outlet.push({ sourceId: SELF_SOURCE_ID, topic: SELF_TOPIC, payload: Buffer.from(lines.join('\n'), 'utf8'), receivedAt: this.opts.arrivalNs(), ack: () => undefined, unsynced: true });
  }
}

/** Decodes what `SelfSource` emitted (its lines carry their own times and tags). */
export function decodeSelf(m: MessageData): Reading[] | DecodeError {
  return decodeLineProtocol(m.payload.toString('utf8'), { tags: {}, receivedAt: m.receivedAt });
}
