import { BehaviorSubject, type Observable } from '../util/rx.js';
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';
import type { Logger } from '../observe/logger.js';
import { systemClock, type Clock } from '../clock.js';
import type { RawMessage, SourceStatus } from '../types.js';
import { MessageOutlet, type Source } from './source.js';
import './mqtt-wire.js';
import { Counters } from '../observe/counters.js';
import { BrokerGate, refusalCode, type ClientIdentity, type GateOptions } from './broker/security.js';
import { BrokerListeners } from './broker/listeners.js';
import { openBrokerState } from './broker/broker-state.js';
import { DEFAULT_RETAINED_BOUNDS } from './broker/retained-limits.js';
import { DEFAULT_BROKER_LIMITS, type BrokerLimits, type BrokerSettings } from './broker/settings.js';
import { PublishRate } from './broker/publish-rate.js';
import { PublishPolicy } from './broker/publish-policy.js';
import type { BrokerStore } from './broker/broker-store.js';
import { boundOutgoingQueues } from './broker/bounded-queues.js';
import { connectionOf, holdEachPublish, isConnectTimeout, retainedMessages, type AedesPersistence } from './broker/aedes-internals.js';
import { TurnCorks } from './broker/turn-corks.js';
import { RateLimiter } from '../util/rate-limit.js';
import { settlesWithin } from '../util/timeout.js';

export { brokerOptionsFromConfig, DEFAULT_BROKER_LIMITS, type BrokerLimits, type BrokerSettings, type BrokerTls } from './broker/settings.js';

export interface EmbeddedBrokerOptions extends BrokerSettings {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The `sourceId` of its messages; default "broker". */
  readonly id?: string;
  /**
   * Shown every retained message kept from an earlier run, once, before any client can
   * connect: decoders that learn from earlier messages (a Homie `$description`) learn
   * again from the retained copy. Nothing shown here is ingested.
   */
  readonly onRetained?: (m: { readonly topic: string; readonly payload: Buffer }) => void;
  /** Password checking and login throttling (defaults in security.ts, login-throttle.ts). */
  readonly login?: Omit<GateOptions, 'owners'>;
  readonly counters?: Counters;
  /**
   * Directory of the broker's state (client id owners, retained messages, persistent
   * sessions), kept across restarts; absent = in memory only.
   */
  readonly stateDir?: string;
  /** Bound on `stop()`; default 2 s. */
  readonly stopTimeoutMs?: number;
}

/**
 * An MQTT 3.1.1 broker (aedes 1.x) inside the daemon, on `config.host:config.port`
 * (port 0 = any free port, see `port`). Other MQTT clients may still subscribe through
 * it; the daemon itself takes every client PUBLISH in process, no loopback client.
 *
 * Acknowledgement: each client PUBLISH is handed on and held until `msg.ack()`
 * (`holdEachPublish`, aedes-internals.ts), so the publisher's PUBACK (QoS 1) or PUBREC
 * (QoS 2) waits for our ack. Unlike mqtt.js, aedes may go on reading a client whose PUBLISH
 * is held (see `holdEachPublish`), so the broker stops reading a client's socket itself once
 * `maxHeldPerClient` of its publishes (any QoS) are held, and reads on when fewer are
 * (`hold`/`release`); the rest waits in the publisher's TCP buffers. A client's will
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
  private readonly limits: BrokerLimits;
  private readonly counters: Counters;
  private gate: BrokerGate | undefined;
  private policy: PublishPolicy | undefined;
  private store: BrokerStore | undefined;
  private readonly rate: PublishRate;
  private readonly listeners: BrokerListeners;
  private readonly dropLog = new RateLimiter(60_000);
  /** Bumped on stop: acks after that do nothing. */
  private gen = 0;
  /**
   * Per client id, its publishes handed on and not yet acked (`maxHeldPerClient`), and
   * its connection now: a client that reconnects while its earlier publishes are still held
   * (aedes dropped it for its keepalive) inherits the count. Only ids with held publishes.
   */
  private readonly held = new Map<string, { n: number; conn: object }>();
  /** Client ids that reached `maxHeldPerClient` in this turn, checked at its end (`pauseHeld`). */
  private readonly atBound = new Set<string>();
  private pauseAt: ReturnType<typeof setImmediate> | undefined;
  /** Sockets corked for the acks given in this turn of the event loop. */
  private readonly corks = new TurnCorks();

  constructor(private readonly opts: EmbeddedBrokerOptions) {
    this.id = opts.id ?? 'broker';
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock();
    this.outlet = new MessageOutlet(this.id);
    this.limits = { ...DEFAULT_BROKER_LIMITS, ...opts.limits };
    this.rate = new PublishRate(this.limits.maxRatePerClient, this.clock);
    this.counters = opts.counters ?? new Counters();
    this.listeners = new BrokerListeners({
      log: this.log,
      limits: this.limits,
      refuse: (reason, details, message) => this.refuse(reason, details, message),
      onDrop: (address) =>
        this.gate?.refuse('too_many_connections', { address }, 'broker: connection refused: too many connections') ??
        this.counters.inc('broker_refused', { reason: 'too_many_connections' }),
      canHandle: () => this.broker !== undefined,
      handle: (conn) => void this.broker?.handle(conn),
    });
  }

  /** The TLS listener's bound port, when it runs. */
  get tlsListenPort(): number | undefined {
    return this.listeners.tlsPort;
  }

  /** Whether the plain MQTT listener is bound (`port` answers). */
  get listening(): boolean {
    return this.listeners.plainPort !== undefined;
  }

  /** The port actually bound (useful with `port: 0`); throws before `start()`. */
  get port(): number {
    const port = this.listeners.plainPort;
    if (port === undefined) throw new Error(`embedded broker ${this.id}: not listening`);
    return port;
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
    const security = this.opts.security;
    // A fresh retained ledger per start: it must describe the retained messages of this persistence.
    const state = await openBrokerState(this.opts.stateDir, { ...DEFAULT_RETAINED_BOUNDS, ...this.opts.retained });
    const { persistence, owners } = state;
    this.store = state.store;
    boundOutgoingQueues(persistence, this.limits.maxQueuedPerClient, (clientId) => {
      this.counters.inc('broker_queue_dropped');
      const suppressed = this.dropLog.take(clientId);
      if (suppressed >= 0)
        this.log.warn(
          { code: 'EFX_BROKER_QUEUE_FULL', clientId, suppressed, limit: this.limits.maxQueuedPerClient },
          `broker: queue of session ${clientId} is full; a message for it was dropped`,
        );
    });
    const gate = security ? new BrokerGate(security, (c) => this.identify(c), this.log, this.counters, { ...this.opts.login, owners }) : undefined;
    this.gate = gate;
    this.policy = new PublishPolicy({
      limits: this.limits,
      rate: this.rate,
      gate,
      retained: state.retained,
      identify: (c) => this.identify(c),
      refuse: (reason, details, message) => this.refuse(reason, details, message),
      onStoreError: (err) => this.stateError('retained', err),
    });
    const hooks: Partial<AedesOptions> = gate
      ? { preConnect: gate.preConnect, authenticate: gate.authenticate, authorizeSubscribe: gate.authorizeSubscribe, authorizeForward: gate.authorizeForward }
      : {};
    let broker: Aedes;
    try {
      broker = await Aedes.createBroker({
        ...hooks,
        persistence,
        maxTopicLevels: Math.min(100, this.limits.maxTopicLevels),
        connectTimeout: this.limits.connectTimeoutMs,
        ...holdEachPublish((client, packet, ack) => this.onPublish(client, packet, ack)),
      });
    } catch (err) {
      await this.stop(); // closes the state store (no broker yet)
      throw err;
    }
    this.broker = broker;
    if (this.opts.onRetained && this.store) await this.showRetained(persistence, this.opts.onRetained);
    broker.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'broker: client error'));
    broker.on('connectionError', (client, err) => {
      if (isConnectTimeout(err)) {
        this.refuse(
          'connect_timeout',
          { address: this.identify(client).address },
          `broker: connection closed: no CONNECT within ${this.limits.connectTimeoutMs} ms`,
        );
      } else this.log.debug({ err: err.message }, 'broker: connection error');
    });
    broker.on('client', (client) => {
      this.onClient(client);
      this.log.debug({ clientId: client.id }, 'broker: client connected');
    });
    broker.on('clientDisconnect', (client) => this.log.debug({ clientId: client.id }, 'broker: client disconnected'));

    try {
      if (this.opts.plaintext ?? true) await this.listeners.listenPlain(host, port);
      if (this.opts.tls) await this.listeners.listenTls(this.opts.tls);
    } catch (err) {
      await this.stop();
      this.status.next({ state: 'down', lastError: (err as Error).message });
      throw err;
    }
    this.status.next({ state: 'up' });
    const anonymousReach = security === undefined ? 'always' : security.anonymous;
    const exposed = [...((this.opts.plaintext ?? true) ? [host] : []), ...(this.opts.tls ? [this.opts.tls.host] : [])].filter((h) => !isLoopback(h));
    if (anonymousReach === 'always' && exposed.length > 0) {
      this.log.warn(
        { host: exposed[0] },
        `embedded broker accepts anonymous clients on ${exposed[0]}: anyone who can reach this address may publish; bind 127.0.0.1 or configure broker.users`,
      );
    }
  }

  private identify(client: Client): ClientIdentity {
    return this.listeners.identify(connectionOf(client));
  }

  private refuse(reason: Parameters<BrokerGate['refuse']>[0], details: Record<string, unknown>, message: string): void {
    if (this.gate) this.gate.refuse(reason, details, message);
    else {
      this.counters.inc('broker_refused', { reason });
      this.log.warn({ code: refusalCode(reason), ...details, reason }, message);
    }
  }

  async stop(): Promise<void> {
    const { broker } = this;
    if (!broker) {
      await this.store?.close().catch(() => {});
      this.store = undefined;
      return;
    }
    this.broker = undefined;
    this.gen++;
    this.held.clear();
    this.atBound.clear();
    if (this.pauseAt !== undefined) clearImmediate(this.pauseAt);
    this.pauseAt = undefined;
    this.corks.release();
    const timeoutMs = this.opts.stopTimeoutMs ?? 2000;
    const serverClosed = this.listeners.unlisten();
    const brokerClosed = new Promise<void>((resolve) => broker.close(() => resolve()));
    this.listeners.dropConnections();
    const closed = await settlesWithin(Promise.all([serverClosed, brokerClosed]), timeoutMs);
    if (!closed) this.log.warn({ timeoutMs }, 'embedded broker: stop timed out');
    broker.removeAllListeners();
    const store = this.store;
    this.store = undefined;
    try {
      await store?.close();
    } catch (err) {
      this.log.error({ err }, 'embedded broker: closing its state store failed');
    }
    this.outlet.complete();
    this.status.next({ state: 'closed' });
    this.log.info('embedded broker stopped');
  }

  private async showRetained(persistence: AedesPersistence, show: NonNullable<EmbeddedBrokerOptions['onRetained']>): Promise<void> {
    let n = 0;
    try {
      for await (const m of retainedMessages(persistence)) {
        n++;
        show(m);
      }
    } catch (err) {
      this.stateError('retained', err);
    }
    if (n > 0) this.log.info({ retained: n }, `embedded broker: ${n} retained messages kept from the last run`);
  }

  private stateError(what: string, err: unknown): void {
    this.counters.inc('broker_state_errors', { what });
    this.log.error({ err }, `broker: saving its state (${what}) failed`);
  }

  /** The hot path: aedes' hook before PUBACK; calls back when the consumer acks. */
  private onPublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    const refused = this.policy?.refusal(client, packet);
    if (refused !== undefined) {
      callback(new Error(refused)); // aedes closes the client (publish-policy.ts)
      return;
    }
    const gen = this.gen;
    let acked = false;
    const id = client === null ? undefined : client.id;
    if (client !== null) this.hold(client);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.outlet.push({
      sourceId: this.id,
      topic: packet.topic,
      payload,
      receivedAt: this.clock.arrivalNs(),
      ack: () => {
        if (acked) return;
        acked = true;
        if (gen !== this.gen) return;
        if (client !== null) this.corks.cork(this.listeners.socketOf(connectionOf(client)));
        if (id !== undefined) this.release(id);
        callback(null);
      },
    });
  }

  /**
   * One more publish of `client` held: at `maxHeldPerClient`, if they are still held at the
   * end of this turn, the broker stops reading its socket (aedes would read on:
   * `holdEachPublish`), so a held ingest keeps a bounded number of messages per client and
   * the rest waits in the publisher's TCP buffers. Not at once: the ingest writes and acks
   * a turn's messages at its end (a setImmediate the turn's first message scheduled, so it
   * runs before this one), and a fast publisher that is acked every turn is not paused.
   */
  private hold(client: Client): void {
    const conn = connectionOf(client);
    let h = this.held.get(client.id);
    if (h === undefined) this.held.set(client.id, (h = { n: 0, conn }));
    h.n++;
    h.conn = conn;
    if (h.n === this.limits.maxHeldPerClient) {
      this.atBound.add(client.id);
      this.pauseAt ??= setImmediate(() => this.pauseHeld());
    }
  }

  /** End of a turn: the clients still at `maxHeldPerClient` are not read until acks take them below. */
  private pauseHeld(): void {
    this.pauseAt = undefined;
    for (const id of this.atBound) {
      const h = this.held.get(id);
      if (h !== undefined && h.n >= this.limits.maxHeldPerClient) this.pauseReading(h.conn);
    }
    this.atBound.clear();
  }

  private pauseReading(conn: object): void {
    if (this.listeners.pauseReading(conn)) this.counters.inc('broker_reads_paused');
  }

  /** One held publish of `id` acked: below the bound, its connection's socket is read again. */
  private release(id: string): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    h.n--;
    if (h.n < this.limits.maxHeldPerClient) this.listeners.resumeReading(h.conn);
    if (h.n <= 0) this.held.delete(id);
  }

  /**
   * A client (re)connected: while its earlier publishes are still held at the bound, its new
   * connection is not read either (else each reconnect would add another window's worth).
   */
  private onClient(client: Client): void {
    const h = this.held.get(client.id);
    if (h === undefined) return;
    h.conn = connectionOf(client);
    if (h.n >= this.limits.maxHeldPerClient) this.pauseReading(h.conn);
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
