/**
 * The readings edgeflux makes about itself (edgeflux_internal, device_status) enter the
 * daemon like any sensor's: as messages of a source, here one message per batch whose
 * payload is the readings themselves, typed (self-codec.ts), not line protocol. So they
 * are journaled, reach every output through its own cursor, survive an outage, and need
 * no second write path. The daemon decodes them with `decodeSelf` instead of the rules
 * (no user rule has to match `$edgeflux/self`).
 */
import { BehaviorSubject, type Observable } from '../util/rx.js';
import { decodeLineProtocol } from '../devices/decode-line-protocol.js';
import { decodeSelfReadings, encodeSelfReadings, isSelfPayload } from './self-codec.js';
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
    const points = readings.filter((r) => Object.keys(r.fields).length > 0); // a point needs a field
    if (points.length === 0) return;
    if (!this.running || this.outlet.heldCount >= MAX_HELD) {
      this.opts.counters?.inc('readings_dropped', { reason: 'self_not_running' }, points.length);
      return;
    }
    this.outlet.push({
      sourceId: SELF_SOURCE_ID,
      topic: SELF_TOPIC,
      payload: encodeSelfReadings(points),
      receivedAt: this.opts.arrivalNs(),
      ack: () => undefined,
      unsynced: true,
    });
  }
}

/** Decodes what `SelfSource` emitted (its readings carry their own times and tags); line protocol from a spool of an earlier version too. */
export function decodeSelf(m: MessageData): Reading[] | DecodeError {
  if (isSelfPayload(m.payload)) return decodeSelfReadings(m.payload);
  return decodeLineProtocol(m.payload.toString('utf8'), { tags: {}, receivedAt: m.receivedAt });
}
