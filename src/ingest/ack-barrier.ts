/**
 * Holds the bytes of acknowledgements given early until the journal write that makes
 * them true is done.
 *
 * The ingest writes the journal once per event-loop turn (one write(2) for every message
 * that arrived in it), and a message may be acknowledged only after that write. mqtt.js
 * reads the next packet of a connection only once the current one is acked, so deferring
 * its acks to the write would cost a turn per message. Instead the MQTT source acks at
 * once and corks the connection's socket here first: the PUBACKs queue in the socket, and
 * `release()` (after the journal write) sends them in one write; `abort()` (the write
 * failed) destroys those connections, so the PUBACKs never leave and the broker keeps
 * the messages. A message acked this way says so (`RawMessage.ackGated`).
 */
import type { Writable } from 'node:stream';

export class AckBarrier {
  private readonly corked = new Set<Writable>();
  private last: Writable | undefined;

  /** `onHold`: the owner must `release()` or `abort()` soon (it schedules its journal write). */
  constructor(private readonly onHold: () => void) {}

  /** Corks `stream` (once per batch) before an ack is written to it. */
  hold(stream: Writable): void {
    if (stream === this.last) return;
    this.last = stream;
    if (this.corked.has(stream)) return;
    stream.cork();
    this.corked.add(stream);
    this.onHold();
  }

  /** The journal write is done: the held acks go out. */
  release(): void {
    for (const s of this.corked) s.uncork();
    this.corked.clear();
    this.last = undefined;
  }

  /** The journal write failed: the held acks must never go out. */
  abort(err: Error): void {
    for (const s of this.corked) s.destroy(err);
    this.corked.clear();
    this.last = undefined;
  }

  /** Connections with acks held. */
  get holding(): number {
    return this.corked.size;
  }
}
