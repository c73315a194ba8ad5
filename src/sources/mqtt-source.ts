import { BehaviorSubject, type Observable } from 'rxjs';
import mqtt, { Store } from 'mqtt';
import { holdEachPublish, requestsAwaitingAnswer } from './mqtt-js.js';
import type { IClientOptions, IConnackPacket, IPublishPacket, ISubscriptionMap, MqttClient } from 'mqtt';
import type { DoneCallback, IStore, Packet, PacketCallback } from 'mqtt';
import type { MqttSourceConfig } from '../config/types.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { systemClock, type Clock } from '../clock.js';
import type { AckGate, RawMessage, SourceStatus } from '../types.js';
import { MessageOutlet, RetryTimer, type Source } from './source.js';
import './mqtt-wire.js';

export interface MqttSourceOptions {
  readonly config: MqttSourceConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** How long `stop()` waits for a clean DISCONNECT before dropping the socket; default 2 s. */
  readonly stopTimeoutMs?: number;
  /** Random source in [0, 1) for the reconnect jitter (tests). */
  readonly random?: () => number;
  /**
   * The ingest's barrier (ingest/ack-barrier.ts): acks are given at once and their bytes
   * held there until the journal write (`ackGated` messages). Absent: the ack is sent when it is given.
   */
  readonly ackBarrier?: AckGate;
  /** `source_paused{source}`: times the connection could not take more acks and reading stopped until it drained. */
  readonly counters?: Counters;
}

const noLog = (): void => undefined;

/** DEBUG=mqttjs* (or any pattern naming mqttjs, or `*`) turns mqtt.js's own debug logging on. */
export function mqttDebugWanted(env: NodeJS.ProcessEnv): boolean {
  const d = env.DEBUG;
  return d !== undefined && /(^|[\s,])(\*|mqttjs[^\s,]*)/.test(d);
}

/**
 * One connection to an external MQTT broker (mqtt.js 5; MQTT 3.1.1 or 5; TLS; persistent
 * session), emitting each PUBLISH it receives as a `RawMessage`.
 *
 * Acks: mqtt.js handles incoming packets one at a time and sends the PUBACK only when
 * `client.handleMessage(packet, cb)` calls back (mqtt-js.ts), which we do from `msg.ack()`: the broker
 * keeps (and redelivers) what we have not acked, and nothing further is read meanwhile.
 * QoS 2: the hold is on the PUBREC, through the incoming store (see HoldingStore).
 * QoS 0 holds the reading alike. Keep acks prompt: while one is held no PINGRESP is
 * processed either, so a hold longer than about the keepalive drops the connection
 * (it reconnects; the broker redelivers). With an `ackBarrier` the acks are written at
 * once but corked in the socket until the ingest's journal write is done.
 *
 * Backpressure on the acks: when the connection's socket already holds more unsent bytes
 * than it should (`writableNeedDrain`: the broker is not reading our PUBACKs, e.g. a
 * saturated single-threaded broker), an ack waits for the socket's 'drain' before it is
 * given, so nothing further is read meanwhile. Without it, a broker that keeps sending
 * while not reading made tens of thousands of PUBACKs pile up in the socket (hundreds of
 * MB of RSS at saturation); with it, the backlog stays at the broker, which is where
 * `max_queued_messages` bounds it. Counted as `source_paused{source}`.
 *
 * `start()` resolves once the first connection is up and subscribed, or once the first
 * attempt failed (it keeps retrying with capped, jittered backoff: the daemon starts
 * while a broker is down). Subscriptions are sent on the first connection of each
 * `start()` and whenever the CONNACK says sessionPresent=false.
 */
export class MqttSource implements Source {
  readonly id: string;
  private readonly cfg: MqttSourceConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly outlet: MessageOutlet;
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });
  private readonly retry: RetryTimer;
  private client: MqttClient | undefined;
  /** Bumped whenever a connection ends: acks of messages from an earlier connection do nothing. */
  private gen = 0;
  private subscribedOnce = false;
  private lastError: string | undefined;
  private settleStart: (() => void) | undefined;
  private qos2Store = new HoldingStore((packet, remember, done) => this.emit(packet, done, remember));

  constructor(private readonly opts: MqttSourceOptions) {
    this.cfg = opts.config;
    this.id = opts.config.id;
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock();
    this.outlet = new MessageOutlet(this.id);
    this.retry = new RetryTimer(opts.config.reconnect.initial, opts.config.reconnect.max, opts.random);
  }

  get status$(): Observable<SourceStatus> {
    return this.status.asObservable();
  }

  messages(): Observable<RawMessage> {
    return this.outlet.messages$;
  }

  /**
   * The filters this source subscribes to, with their QoS: `config.subscriptions`, which
   * the daemon fills with the defaults when the config lists none (`sourceSubscriptions`).
   */
  get subscriptions(): readonly { readonly topic: string; readonly qos: 0 | 1 | 2 }[] {
    return this.cfg.subscriptions;
  }

  async start(): Promise<void> {
    if (this.client) throw new Error(`mqtt source ${this.id}: already started`);
    this.qos2Store = new HoldingStore((packet, remember, done) => this.emit(packet, done, remember));
    const client = mqtt.connect(this.cfg.url, this.clientOptions()); // throws on a bad URL; nothing runs yet
    this.client = client;
    this.subscribedOnce = false;
    this.retry.reset();
    // Everything is attached before the first CONNECT goes out: a persistent session's
    // queued messages arrive right after the CONNACK.
    holdEachPublish(client, (packet, callback) => {
      // QoS 2 was handed on (and acked with PUBREC) at PUBLISH time, see HoldingStore.
      if (packet.qos === 2) callback();
      else this.emit(packet, callback);
    });
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('close', () => this.onClose(client));
    client.on('error', (err) => (this.lastError = err.message));
    const started = new Promise<void>((resolve) => (this.settleStart = resolve));
    // Bounded even if the SUBACK never comes (e.g. nobody consumes the messages queued ahead of it).
    const bound = setTimeout(() => {
      this.log.warn(`mqtt ${this.id}: not up after ${2 * this.cfg.connect_timeout} ms, starting anyway`);
      this.settle();
    }, 2 * this.cfg.connect_timeout);
    this.setStatus('connecting');
    client.connect();
    await started;
    clearTimeout(bound);
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.gen++;
    this.retry.cancel();
    this.settle();
    await endClient(client, this.opts.stopTimeoutMs ?? 2000);
    client.removeAllListeners();
    client.on('error', () => {}); // a late socket error must not become an uncaught exception
    this.outlet.complete();
    this.setStatus('closed');
  }

  private clientOptions(): IClientOptions {
    const c = this.cfg;
    return {
      manualConnect: true,
      protocolVersion: c.protocol_version,
      clientId: c.client_id,
      clean: c.clean,
      keepalive: c.keepalive > 0 ? Math.max(1, Math.round(c.keepalive / 1000)) : 0,
      connectTimeout: c.connect_timeout,
      reconnectPeriod: 0, // our own backoff, see onClose()
      resubscribe: false, // we re-subscribe ourselves, see onConnect()
      queueQoSZero: false,
      username: c.username,
      password: c.password,
      ...(c.tls ? { ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key, rejectUnauthorized: c.tls.reject_unauthorized } : {}),
      ...(c.protocol_version === 5 && !c.clean ? { properties: { sessionExpiryInterval: Math.min(0xffffffff, Math.ceil(c.session_expiry / 1000)) } } : {}),
      incomingStore: this.qos2Store,
      writeCache: false, // see mqtt-wire.ts
      // mqtt.js logs every packet through `debug` (a few calls per message even when off);
      // unless DEBUG asks for its namespace, it gets a no-op logger instead.
      ...(mqttDebugWanted(process.env) ? {} : { log: noLog }),
    };
  }

  /**
   * The hot path: one object and one closure per message. `callback` acknowledges on the
   * connection the message came from (skipped if that connection is gone: the broker
   * redelivers); `remember` runs on every ack.
   */
  private emit(packet: IPublishPacket, callback: () => void, remember?: () => void): void {
    const gen = this.gen;
    const barrier = this.opts.ackBarrier;
    let acked = false;
    const { topic, payload } = packet;
    this.outlet.push({
      sourceId: this.id,
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      receivedAt: this.clock.arrivalNs(),
      ack: () => {
        if (acked) return;
        acked = true;
        remember?.();
        if (gen !== this.gen) return;
        const stream = this.client?.stream;
        if (stream?.writableNeedDrain === true) {
          this.opts.counters?.inc('source_paused', { source: this.id });
          stream.once('drain', () => {
            if (gen === this.gen) this.sendAck(stream, packet, callback); // the ack waits until the socket took what it holds
          });
        } else this.sendAck(stream, packet, callback);
      },
      ackGated: barrier !== undefined,
    });
  }

  /** Gives mqtt.js the ack; with a barrier, its bytes (QoS 1: the PUBACK) wait in the corked socket for the journal write. */
  private sendAck(stream: MqttClient['stream'] | undefined, packet: IPublishPacket, callback: () => void): void {
    if (this.opts.ackBarrier !== undefined && stream !== undefined && packet.qos > 0) this.opts.ackBarrier.hold(stream); // QoS 0: no ack bytes
    callback();
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client) return;
    this.retry.reset();
    this.lastError = undefined;
    const sessionPresent = connack.sessionPresent === true;
    if (!sessionPresent) this.qos2Store.clear();
    const subs = this.subscriptions;
    if (subs.length === 0 || (this.subscribedOnce && sessionPresent)) {
      this.setStatus('up', undefined, { sessionPresent });
      return;
    }
    const gen = this.gen;
    const map: ISubscriptionMap = {};
    // rh 1: a subscription the session already has does not resend retained messages (MQTT 5).
    for (const s of subs) map[s.topic] = this.cfg.protocol_version === 5 ? { qos: s.qos, rh: 1 } : { qos: s.qos };
    client.subscribe(map, (err, granted) => {
      if (gen !== this.gen || client !== this.client) return;
      this.subscribedOnce = true;
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      const problem = err ? `subscribe failed: ${err.message}` : refused.length ? `subscription refused: ${refused.join(', ')}` : undefined;
      this.setStatus('up', problem, { sessionPresent, subscribed: subs.map((s) => s.topic) });
    });
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.gen++;
    const delay = this.retry.schedule(() => this.reconnect(client));
    this.setStatus('down', this.lastError ?? 'connection closed', { retryInMs: delay, attempt: this.retry.attempts });
  }

  private reconnect(client: MqttClient): void {
    if (client !== this.client) return;
    this.lastError = undefined;
    this.setStatus('connecting');
    // connect() (not reconnect(), which would swap the stores and forget QoS 2 state).
    client.connect();
  }

  private setStatus(state: SourceStatus['state'], lastError?: string, extra?: Record<string, unknown>): void {
    const prev = this.status.value;
    this.status.next(lastError === undefined ? { state } : { state, lastError });
    const ctx = { url: redactUrl(this.cfg.url), clientId: this.cfg.client_id, ...extra, ...(lastError ? { err: lastError } : {}) };
    if (state === 'up') this.log[lastError ? 'error' : 'info'](ctx, `mqtt ${this.id}: connected${lastError ? `, but ${lastError}` : ''}`);
    // A broker that stays down costs one warn line, then a debug line per attempt.
    else if (state === 'down')
      this.log[prev.state === 'up' || this.retry.attempts <= 1 ? 'warn' : 'debug'](ctx, `mqtt ${this.id}: disconnected (${lastError}), retrying`);
    else this.log[state === 'connecting' ? 'debug' : 'info'](ctx, `mqtt ${this.id}: ${state}`);
    if (state === 'up' || state === 'down') this.settle();
  }

  private settle(): void {
    const s = this.settleStart;
    this.settleStart = undefined;
    s?.();
  }
}

/**
 * The incoming store mqtt.js puts a QoS 2 PUBLISH into before it sends PUBREC: a new
 * PUBLISH is handed to `onPublish`, and the put completes (so PUBREC goes out) only when
 * the message is acked. A retransmitted PUBLISH whose earlier copy was acked completes at
 * once (no second delivery); PUBREL then finds it here and releases it.
 */
class HoldingStore implements IStore {
  private readonly packets = new Map<number, Packet>();

  constructor(private readonly onPublish: (packet: IPublishPacket, remember: () => void, done: () => void) => void) {}

  put(packet: Packet, cb: DoneCallback): this {
    const id = packet.messageId;
    if (packet.cmd !== 'publish' || id === undefined || this.packets.has(id)) cb();
    else
      this.onPublish(
        packet,
        () => this.packets.set(id, packet),
        () => cb(),
      );
    return this;
  }

  get(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const found = this.packets.get(packet.messageId ?? -1);
    cb(found ? undefined : new Error('missing packet'), found);
    return this;
  }

  del(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const found = this.packets.get(packet.messageId ?? -1);
    this.packets.delete(packet.messageId ?? -1);
    cb(found ? undefined : new Error('missing packet'), found);
    return this;
  }

  /** Never read for incoming packets (mqtt.js streams only its outgoing store): an empty store's stream. */
  createStream(): ReturnType<IStore['createStream']> {
    return new Store().createStream();
  }

  close(cb: DoneCallback): void {
    this.packets.clear();
    cb();
  }

  /** Forgets everything (the broker reported no session). */
  clear(): void {
    this.packets.clear();
  }
}

/** The URL without a password, should one be written into it (`mqtt://user:pw@host`); errs on the side of hiding. */
export function redactUrl(url: string): string {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (start < 0 || at < start) return url;
  const userinfo = url.slice(start + 3, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, start + 3)}${userinfo.slice(0, colon)}:[redacted]${url.slice(at)}`;
}

/**
 * Sends DISCONNECT and waits for the close, at most `timeoutMs`, then drops the socket.
 * Forced (no DISCONNECT) when not connected or a request (a SUBSCRIBE) is unanswered:
 * mqtt.js would wait for it, and its answer may be queued behind an unacked message.
 */
async function endClient(client: MqttClient, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.stream?.destroy();
      resolve();
    }, timeoutMs);
    client.end(!client.connected || requestsAwaitingAnswer(client) > 0, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
