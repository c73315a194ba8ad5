/**
 * The embedded broker's listeners: the plain and TLS servers, the share of connections
 * each address may hold, and the packet-size guard that sees every chunk aedes reads from a
 * connection before aedes parses it. aedes reads the socket itself (no stream in between:
 * each would cost every connection its own stream states and every chunk two more hops).
 * Who a connection is (address, certificate user) is remembered for the gate.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../../observe/logger.js';
import { holdReads } from './aedes-internals.js';
import { PacketGuard } from './packet-guard.js';
import type { BrokerGate, ClientIdentity } from './security.js';
import type { BrokerLimits, BrokerTls } from './settings.js';

export interface ListenerHooks {
  readonly log: Logger;
  readonly limits: Pick<BrokerLimits, 'maxConnections' | 'maxConnectionsPerAddress' | 'maxPacketBytes'>;
  /** Counts and logs a refused connection or packet. */
  readonly refuse: (reason: Parameters<BrokerGate['refuse']>[0], details: Record<string, unknown>, message: string) => void;
  /** A server dropped a connection beyond `maxConnections`. */
  readonly onDrop: (address: string | undefined) => void;
  /** Whether a connection can be handed on now (the broker runs). */
  readonly canHandle: () => boolean;
  readonly handle: (conn: Socket | TLSSocket) => void;
}

export class BrokerListeners {
  /** The bound ports, while listening. */
  plainPort: number | undefined;
  tlsPort: number | undefined;
  private servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly identities = new WeakMap<object, ClientIdentity>();
  /** Each connection's hold on what aedes reads (`pauseReading`). */
  private readonly holds = new WeakMap<object, ReturnType<typeof holdReads>>();
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly h: ListenerHooks) {}

  /** Plain MQTT on host:port; the bound port. */
  async listenPlain(host: string, port: number): Promise<number> {
    const server = createServer();
    server.on('connection', (socket: Socket) => this.admit(socket) && this.accept(socket, socket));
    this.plainPort = await this.listen(server, host, port, 'mqtt');
    return this.plainPort;
  }

  /** MQTT over TLS, asking for client certificates as configured; the bound port. */
  async listenTls(tls: BrokerTls): Promise<number> {
    const server = createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca !== undefined && { ca: tls.ca }),
        requestCert: tls.clientCerts !== 'none',
        rejectUnauthorized: tls.clientCerts === 'required',
      },
      (socket) => this.accept(socket, socket, certUser(socket)),
    );
    // Counted on the TCP connection, before the TLS handshake costs anything.
    server.on('connection', (socket: Socket) => this.admit(socket));
    this.tlsPort = await this.listen(server, tls.host, tls.port, 'mqtts');
    return this.tlsPort;
  }

  /** Who is behind an aedes client's connection. */
  identify(conn: object): ClientIdentity {
    return this.identities.get(conn) ?? { address: 'unknown' };
  }

  /** The socket of an aedes client's connection (to cork it), while it is open. */
  socketOf(conn: object): Socket | TLSSocket | undefined {
    return this.sockets.has(conn as Socket) ? (conn as Socket | TLSSocket) : undefined;
  }

  /**
   * Stops aedes reading a connection (aedes-internals.ts `holdReads`): once its buffer is
   * full node stops reading the socket, the kernel's receive window closes and the
   * publisher blocks. What aedes already read is still handled. `resumeReading` reads on.
   * False when it was paused already (or is not known).
   */
  pauseReading(conn: object): boolean {
    return this.holds.get(conn)?.pause() ?? false;
  }

  /** Reads the connection again after `pauseReading`. */
  resumeReading(conn: object): void {
    this.holds.get(conn)?.resume();
  }

  /** Stops accepting; resolves once every server has closed. */
  unlisten(): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    this.plainPort = undefined;
    this.tlsPort = undefined;
    return Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
  }

  /** Ends every connection, also those mid-handshake (not yet known to aedes). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private async listen(server: Server, host: string, port: number, scheme: string): Promise<number> {
    server.maxConnections = this.h.limits.maxConnections;
    server.on('drop', (d) => this.h.onDrop(d?.remoteAddress));
    this.servers.push(server);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        const key = scheme === 'mqtts' ? 'broker.tls.port' : 'broker.port';
        throw new Error(
          `embedded broker: port ${port} on ${host} is already in use (${key}): another edgeflux may be running, or another MQTT broker such as mosquitto (systemctl status mosquitto); set ${key} to a free port, or remove broker: and read from that broker with an mqtt: source`,
          { cause: err },
        );
      }
      throw new Error(`embedded broker: cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
    server.on('error', (err) => this.h.log.error({ err }, 'broker: server error'));
    const bound = (server.address() as AddressInfo).port;
    this.h.log.info({ host, port: bound }, `embedded broker listening on ${scheme}://${host}:${bound}`);
    return bound;
  }

  /**
   * Counts a new TCP connection against its address's share; false (and the socket
   * destroyed, counted) when the address already holds `maxConnectionsPerAddress`.
   */
  private admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown';
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.h.limits.maxConnectionsPerAddress) {
      socket.destroy();
      this.h.refuse('too_many_connections_per_address', { address }, `broker: connection refused: ${address} already has ${n} connections`);
      return false;
    }
    this.perAddress.set(address, n + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
    return true;
  }

  /** Hands a connection to aedes, its reads held (packet-size guard, pause), remembering who it is. */
  private accept(socket: Socket, raw: Socket | TLSSocket, certUser?: string): void {
    if (!this.h.canHandle()) return void socket.destroy();
    // Without this, a PUBACK written while an earlier one is unacknowledged waits for the
    // peer's delayed ACK (Nagle's algorithm, ~40 ms): a device that publishes QoS 1 one at a
    // time, or resends a backlog after a reconnect, then gets ~23 acks/s instead of thousands.
    raw.setNoDelay(true);
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    this.identities.set(raw, { address: raw.remoteAddress ?? 'unknown', ...(certUser !== undefined && { certUser }) });
    const guard = new PacketGuard(this.h.limits.maxPacketBytes);
    // Every chunk aedes reads passes the guard first (holdReads): a packet declared too
    // large ends the connection before aedes parses any of that chunk.
    this.holds.set(
      raw,
      holdReads(raw, (chunk) => {
        if (raw.destroyed) return false; // refused already: nothing more is parsed
        const bad = guard.check(chunk);
        if (bad === undefined) return true;
        if (bad.declared !== undefined) {
          this.h.refuse(
            'payload_too_large',
            { address: raw.remoteAddress, bytes: bad.declared },
            `broker: packet of ${bad.declared} bytes refused (limit ${this.h.limits.maxPacketBytes})`,
          );
        }
        raw.destroy();
        return false;
      }),
    );
    this.h.handle(raw);
  }
}

function certUser(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
