import { BehaviorSubject, type Observable } from '../util/rx.js';
import mqtt from 'mqtt';
import type { IConnackPacket, MqttClient } from 'mqtt';
import { holdEachPublish, requestsAwaitingAnswer } from './mqtt-js.js';
import type { MqttSourceConfig } from '../config/types.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import type { AckGate, RawMessage, SourceStatus } from '../types.js';
import { MessageOutlet, RetryTimer, type Source } from './source.js';
import { MqttIntake } from './mqtt-intake.js';
import { mqttClientOptions, redactUrl } from './mqtt-options.js';
import { SubscriptionSet, type MqttSubscription } from './mqtt-subscriptions.js';
import './mqtt-wire.js';
import { settlesWithin } from '../util/timeout.js';

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

/**
 * One connection to an external MQTT broker (mqtt.js 5; MQTT 3.1.1 or 5; TLS; persistent
 * session), emitting each PUBLISH it receives as a `RawMessage`.
 *
 * Acks: mqtt.js handles incoming packets one at a time and sends the PUBACK only when
 * `client.handleMessage(packet, cb)` calls back (mqtt-js.ts), which we do from `msg.ack()`: the broker
 * keeps (and redelivers) what we have not acked, and nothing further is read meanwhile.
 * QoS 2: the hold is on the PUBREC, through the incoming store (HoldingStore, mqtt-intake.ts).
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
 * `start()` and whenever the CONNACK says sessionPresent=false (mqtt-subscriptions.ts).
 *
 * This class owns the connection and its session (connect, reconnect with backoff, status,
 * stop); the messages and their acks are mqtt-intake.ts's, the client's options mqtt-options.ts's.
 */
export class MqttSource implements Source {
  readonly id: string;
  private readonly cfg: MqttSourceConfig;
  private readonly log: Logger;
  private readonly outlet: MessageOutlet;
  private readonly intake: MqttIntake;
  private readonly subs: SubscriptionSet;
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });
  private readonly retry: RetryTimer;
  private client: MqttClient | undefined;
  private lastError: string | undefined;
  private settleStart: (() => void) | undefined;

  constructor(private readonly opts: MqttSourceOptions) {
    this.cfg = opts.config;
    this.id = opts.config.id;
    this.log = opts.logger;
    this.outlet = new MessageOutlet(this.id);
    this.intake = new MqttIntake({
      sourceId: this.id,
      outlet: this.outlet,
      clock: opts.clock ?? systemClock(),
      ackBarrier: opts.ackBarrier,
      counters: opts.counters,
      stream: () => this.client?.stream,
    });
    this.subs = new SubscriptionSet(opts.config.subscriptions, opts.config.protocol_version);
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
  get subscriptions(): readonly MqttSubscription[] {
    return this.subs.filters;
  }

  async start(): Promise<void> {
    if (this.client) throw new Error(`mqtt source ${this.id}: already started`);
    const client = mqtt.connect(this.cfg.url, mqttClientOptions(this.cfg, this.intake.newStore())); // throws on a bad URL; nothing runs yet
    this.client = client;
    this.subs.reset();
    this.retry.reset();
    // Everything is attached before the first CONNECT goes out: a persistent session's
    // queued messages arrive right after the CONNACK.
    holdEachPublish(client, this.intake.onPublish);
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
    this.intake.connectionEnded();
    this.retry.cancel();
    this.settle();
    await endClient(client, this.opts.stopTimeoutMs ?? 2000);
    client.removeAllListeners();
    client.on('error', () => {}); // a late socket error must not become an uncaught exception
    this.outlet.complete();
    this.setStatus('closed');
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client) return;
    this.retry.reset();
    this.lastError = undefined;
    const sessionPresent = connack.sessionPresent === true;
    if (!sessionPresent) this.intake.store.clear();
    const request = this.subs.request(sessionPresent);
    if (request === undefined) {
      this.setStatus('up', undefined, { sessionPresent });
      return;
    }
    const gen = this.intake.generation;
    client.subscribe(request, (err, granted) => {
      if (gen !== this.intake.generation || client !== this.client) return;
      const problem = this.subs.answered(err, granted);
      this.setStatus('up', problem, { sessionPresent, subscribed: this.subs.filters.map((s) => s.topic) });
    });
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.intake.connectionEnded();
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
 * Sends DISCONNECT and waits for the close, at most `timeoutMs`, then drops the socket.
 * Forced (no DISCONNECT) when not connected or a request (a SUBSCRIBE) is unanswered:
 * mqtt.js would wait for it, and its answer may be queued behind an unacked message.
 */
async function endClient(client: MqttClient, timeoutMs: number): Promise<void> {
  const ended = new Promise<void>((resolve) => client.end(!client.connected || requestsAwaitingAnswer(client) > 0, () => resolve()));
  if (!(await settlesWithin(ended, timeoutMs))) client.stream?.destroy();
}
