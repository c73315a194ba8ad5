import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BehaviorSubject, type Observable } from 'rxjs';
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';
import type { BrokerConfig } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import { systemClock, type Clock } from '../clock.js';
import type { RawMessage, SourceStatus } from '../types.js';
import { MessageOutlet, type Source } from './source.js';

export interface EmbeddedBrokerOptions {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The `sourceId` of its messages; default "broker". */
  readonly id?: string;
  /**
   * Authentication and subscribe ACLs: the hook the auth issue plugs into (aedes'
   * own hook shapes). Absent = anonymous, which warns unless bound to loopback.
   */
  readonly auth?: Pick<AedesOptions, 'authenticate' | 'authorizeSubscribe'>;
  /** Bound on `stop()`; default 2 s. */
  readonly stopTimeoutMs?: number;
}

/**
 * An MQTT 3.1.1 broker (aedes 1.x) inside the daemon, on `config.host:config.port`
 * (port 0 = any free port, see `port`). Other MQTT clients may still subscribe through
 * it; the daemon itself takes every client PUBLISH in process, no loopback client.
 *
 * Acknowledgement: aedes runs `authorizePublish` before anything else it does with a
 * PUBLISH (lib/handlers/publish.js: authorizePublish, then PUBACK + forward for QoS 1,
 * PUBREC for QoS 2). Ours hands the message on and calls back only from `msg.ack()`,
 * so the publisher's PUBACK (QoS 1) or PUBREC (QoS 2) waits for our ack, and aedes
 * reads no further packets from that client until every PUBLISH of the current read
 * batch is acked (QoS 0 alike: the ack is only flow control there). A client's will
 * message passes the same hook and is emitted like any publish. `$SYS/...` publishes
 * from clients are refused (aedes' default); the broker's own `$SYS` traffic never
 * passes this hook.
 */
export class EmbeddedBroker implements Source {
  readonly id: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly outlet: MessageOutlet;
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort: number | undefined;
  /** Bumped on stop: acks after that do nothing. */
  private gen = 0;

  constructor(private readonly opts: EmbeddedBrokerOptions) {
    this.id = opts.id ?? 'broker';
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock();
    this.outlet = new MessageOutlet(this.id);
  }

  /** The port actually bound (useful with `port: 0`); throws before `start()`. */
  get port(): number {
    if (this.boundPort === undefined) throw new Error(`embedded broker ${this.id}: not listening`);
    return this.boundPort;
  }

  get status$(): Observable<SourceStatus> {
    return this.status.asObservable();
  }

  messages(): Observable<RawMessage> {
    return this.outlet.messages$;
  }

  /** Number of connected MQTT clients. */
  get clientCount(): number {
    return this.broker?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    if (this.broker) throw new Error(`embedded broker ${this.id}: already started`);
    const { host, port } = this.opts.config;
    this.status.next({ state: 'connecting' });
    const broker = await Aedes.createBroker({
      ...this.opts.auth,
      authorizePublish: (client, packet, callback) => this.onPublish(client, packet, callback),
    });
    this.broker = broker;
    broker.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'broker: client error'));
    broker.on('connectionError', (_client, err) => this.log.debug({ err: err.message }, 'broker: connection error'));
    broker.on('client', (client) => this.log.debug({ clientId: client.id }, 'broker: client connected'));
    broker.on('clientDisconnect', (client) => this.log.debug({ clientId: client.id }, 'broker: client disconnected'));

    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await this.stop();
      this.status.next({ state: 'down', lastError: (err as Error).message });
      throw new Error(`embedded broker: cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
    server.on('error', (err) => this.log.error({ err }, 'broker: server error'));
    this.boundPort = (server.address() as AddressInfo).port;
    this.status.next({ state: 'up' });
    this.log.info({ host, port: this.boundPort }, `embedded broker listening on ${host}:${this.boundPort}`);
    if (!this.opts.auth?.authenticate && !isLoopback(host)) {
      this.log.warn({ host }, `embedded broker accepts anonymous clients on ${host}: anyone who can reach this address may publish; bind 127.0.0.1 or enable authentication`);
    }
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    if (!broker) return;
    this.broker = undefined;
    this.server = undefined;
    this.boundPort = undefined;
    this.gen++;
    const timeoutMs = this.opts.stopTimeoutMs ?? 2000;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const brokerClosed = new Promise<void>((resolve) => broker.close(() => resolve()));
    // Clients mid-handshake are not yet known to aedes; end their sockets too.
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
    const late = await Promise.race([Promise.all([serverClosed, brokerClosed]).then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) this.log.warn({ timeoutMs }, 'embedded broker: stop timed out');
    broker.removeAllListeners();
    this.outlet.complete();
    this.status.next({ state: 'closed' });
    this.log.info('embedded broker stopped');
  }

  /** The hot path: aedes' hook before PUBACK; calls back when the consumer acks. */
  private onPublish(_client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    const topic = packet.topic;
    if (topic.startsWith('$SYS')) {
      callback(new Error('$SYS topics are reserved'));
      return;
    }
    const gen = this.gen;
    let acked = false;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.outlet.push({
      sourceId: this.id,
      topic,
      payload,
      receivedAt: this.clock.arrivalNs(),
      ack: () => {
        if (acked) return;
        acked = true;
        if (gen === this.gen) callback(null);
      },
    });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
