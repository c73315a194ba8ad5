/**
 * Corks each client socket that an ack was given for until the end of this event-loop turn,
 * so that the PUBACKs of the turn leave in one write(2). The ingest acks every message of a
 * journal write in one loop, after the write (the ack-after-journal guarantee is the
 * ingest's, unchanged); aedes writes each PUBACK as three small chunks, each its own write(2)
 * on an uncorked socket. When they have all reached the socket: `afterAckWrites`
 * (aedes-internals.ts).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAckWrites } from './aedes-internals.js';

export class TurnCorks {
  private readonly corked = new Set<Socket | TLSSocket>();
  private uncorkAt: ReturnType<typeof setImmediate> | undefined;

  /** Corks `socket` until this turn's PUBACKs are written to it; call before the ack. */
  cork(socket: Socket | TLSSocket | undefined): void {
    if (socket === undefined || this.corked.has(socket) || socket.destroyed) return;
    socket.cork();
    this.corked.add(socket);
    this.uncorkAt ??= afterAckWrites(() => this.uncorkAll());
  }

  /** Uncorks every corked socket now, and drops the pending uncork (on stop). */
  release(): void {
    if (this.uncorkAt !== undefined) clearImmediate(this.uncorkAt);
    this.uncorkAll();
  }

  private uncorkAll(): void {
    this.uncorkAt = undefined;
    for (const s of this.corked) s.uncork();
    this.corked.clear();
  }
}
