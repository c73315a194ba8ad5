import { join } from 'node:path';
import type { Config, SpoolConfig } from './config/types.js';
import type { Logger } from './observe/logger.js';
import { Counters } from './observe/counters.js';
import { RateLimiter } from './util/rate-limit.js';
import { systemClock, type Clock } from './clock.js';
import type { DecodeError, MessageData, RawMessage } from './types.js';
import type { Source } from './sources/source.js';
import type { EmbeddedBroker } from './sources/embedded-broker.js';
import { SourceSupervisor } from './sources/supervisor.js';
import { RuleSet } from './devices/rules.js';
import { decodeDeviceMessage, defaultFilters, DeviceStatusLog, loadDevices, sourceSubscriptions } from './devices/device-messages.js';
import { filterMatcher } from './util/topic-template.js';
import type { Journal, JournalRecord, JournalStats } from './journal/journal.js';
import { createJournal } from './journal/create-journal.js';
import { spoolDirError } from './journal/spool-dir.js';
import { Ingest } from './ingest/ingest.js';
import { DeadLetter } from './sink/dead-letter.js';
import { DecodedCache } from './ingest/decoded-cache.js';
import { Drain } from './sink/drain.js';
import { createShaping, noticeReporter } from './pipeline/shaping.js';
import { Output, type OutputStatus } from './sink/output.js';
import { createWriter } from './sink/influx-writer.js';
import { Service, type ServiceHost } from './observe/service.js';
import { SelfSource, decodeSelf, isSelfMessage } from './sources/self-source.js';
import { instrumentWriter } from './sink/instrument-writer.js';
import { isDecodeError, type Reading } from './types.js';
import { parsePasswordFile, verifyPassword } from './util/passwords.js';
import { PAYLOAD_CODES } from './util/errors.js';
import { readSecretFile } from './config/secrets.js';

export interface DaemonDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly counters?: Counters;
  readonly clock?: Clock;
  /** The journal for `config.spool`; default FileJournal (durable) or MemoryJournal (memory). */
  readonly createJournal?: (spool: SpoolConfig, logger: Logger, counters: Counters, onFatal?: (err: Error) => void) => Journal;
  /**
   * The spool became unusable while running (read-only, removed, no permission): the
   * daemon cannot keep its promise, so the CLI stops it and exits non-zero (systemd sees a
   * failure, not a hang). The error names the path and the fix; it is also logged (fatal).
   */
  readonly onFatal?: (err: Error) => void;
  /** For /metrics and edgeflux_internal. */
  readonly version?: string;
  /** NOTIFY_SOCKET, WATCHDOG_USEC, …; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** prom-client's process metrics (once per process: the CLI sets it). */
  readonly nodeMetrics?: boolean;
  /**
   * The daemon this one replaces on a reload (stopped): its counters, device states, start
   * and last-message times carry over, so /metrics, /healthz and the device list go on
   * instead of starting from zero. Dropped once started (no chain of old daemons is kept).
   */
  readonly previous?: Daemon;
  /** Sources beyond the configured ones (embedding, tests); started and supervised like them. */
  readonly extraSources?: readonly Source[];
}

/** What the spool holds and how far each output is behind (for health, metrics, `spool status`). */
export interface SpoolStatus {
  readonly mode: SpoolConfig['mode'];
  readonly journal: JournalStats;
  /** Messages held unacknowledged because the journal refused them (policy block). */
  readonly holding: number;
  readonly outputs: readonly (OutputStatus & { readonly id: string; readonly cursor: number; readonly behind: number })[];
}

/**
 * Wires sources → ingest (validate, journal, ack) and, per output, journal → drain
 * (decode, shape, encode, batch, write, commit), and owns their lifecycle (docs/architecture.md,
 * "Delivery guarantees"). Construction does nothing. `start()` opens the journal first
 * (recovering after a crash), then starts the drains (which replay whatever their cursor
 * has not passed), then the sources, so nothing is acknowledged before the journal is
 * open. `stop()` stops the sources, lets the drains write what is journaled within
 * `shutdown_timeout`, and closes the journal: in durable mode what is left stays in the
 * journal for the next start; in memory mode it is lost, counted, and `stop()` says so.
 */
export class Daemon {
  readonly counters: Counters;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly badInputLog = new RateLimiter(10_000);
  private deadLetter: DeadLetter | undefined;
  private journal: Journal | undefined;
  private ingest: Ingest | undefined;
  private drains: Drain[] = [];
  private sources: Source[] = [];
  private broker: EmbeddedBroker | undefined;
  private supervisors: SourceSupervisor[] = [];
  private fatalError: Error | undefined;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private service: Service | undefined;
  private self: SelfSource | undefined;
  private startedAt = 0;
  private lastMessageAt: number | undefined;
  /** The device profiles' field units by message (the status page). */
  private unitsOf: ((m: Pick<RawMessage, 'sourceId' | 'topic'>) => Readonly<Record<string, string>> | undefined) | undefined;

  private previous: Daemon | undefined;

  constructor(private readonly deps: DaemonDeps) {
    this.previous = deps.previous;
    this.counters = deps.counters ?? deps.previous?.counters ?? new Counters();
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock();
  }

  /** The embedded broker's bound port (useful with `port: 0`), if it runs and listens. */
  get brokerPort(): number | undefined {
    return this.broker?.listening === true ? this.broker.port : undefined;
  }

  /** The spool and every output's position in it; undefined before `start()`. */
  spoolStatus(): SpoolStatus | undefined {
    if (!this.journal || !this.ingest) return undefined;
    return {
      mode: this.deps.config.spool.mode,
      journal: this.journal.stats(),
      holding: this.ingest.holding,
      outputs: this.drains.map((d) => ({ id: d.id, ...d.output.status, ...d.lag })),
    };
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`daemon: start() called in state ${this.state}`);
    this.state = 'running';
    const { config } = this.deps;
    const rules = new RuleSet(config.rules, config.limits);
    const devices = await loadDevices(config, this.log); // profiles named by devices[] and serial[]
    const deviceStatus = new DeviceStatusLog(this.log, this.counters);
    this.unitsOf = devices && ((m) => devices.decoders.units(m));
    const previous = this.previous;
    this.previous = undefined;
    this.startedAt = previous?.startedAt ?? this.clock.nowMs();
    this.lastMessageAt = previous?.lastMessageAt;
    this.self = new SelfSource({ counters: this.counters, arrivalNs: () => this.clock.arrivalNs() });
    const service = new Service({
      config: config.service,
      logger: this.log,
      counters: this.counters,
      host: this.serviceHost(),
      ...(this.deps.version !== undefined && { version: this.deps.version }),
      ...(this.deps.nodeMetrics !== undefined && { nodeDefaults: this.deps.nodeMetrics }),
      ...(this.deps.env !== undefined && { env: this.deps.env }),
      ...(previous?.service && { previous: previous.service }),
    });
    this.service = service;
    await service.checkClock(); // may wait for the NTP sync (extending systemd's start timeout)
    await service.start(); // /healthz, /metrics and watchdog pings during journal recovery

    this.deadLetter = new DeadLetter({ path: config.dead_letter.path, maxBytes: config.dead_letter.max_bytes, logger: this.log, counters: this.counters });
    await this.deadLetter.start();

    const journal = (this.deps.createJournal ?? createJournal)(config.spool, this.log.child({ component: 'journal' }), this.counters, (err) => this.fatal(err));
    this.journal = journal;
    const report = await journal.open();

    const cache = new DecodedCache(Math.max(1, config.outputs.length));
    // One decode for ingest and every drain, so that a replay gives the same points.
    // Device profiles first, then the rules; a device status is a `device_status` reading on
    // both paths, counted and logged on the ingest path only (onStatus).
    const decodeMessage = (m: MessageData, onStatus?: Parameters<typeof decodeDeviceMessage>[3]): Reading[] | DecodeError =>
      isSelfMessage(m) ? decodeSelf(m) : decodeDeviceMessage(m, devices?.decoders, rules, onStatus);
    const ignore = filterMatcher([...config.ignore, ...(devices?.decoders.ignoreFilters() ?? [])]); // the config's and the profiles'
    const ingest = new Ingest({
      journal,
      ...(ignore && { ignore }),
      decode: (m) => {
        const r = decodeMessage(m, (s) => deviceStatus.observe(s));
        if (!isSelfMessage(m)) {
          this.lastMessageAt = this.clock.nowMs();
          if (!isDecodeError(r)) service.observe(r, m.sourceId, m.topic);
        }
        return r;
      },
      onBadMessage: (m, e) => this.onBadMessage(m, e), cache, counters: this.counters, logger: this.log,
      onFatal: (err) => this.fatal(config.spool.mode === 'durable' ? spoolDirError(config.spool.dir, err) : err instanceof Error ? err : new Error(String(err))) });
    this.ingest = ingest;
    // The record itself: a FrameRecord decodes only the fields the decoder asks for.
    const decode = (r: JournalRecord) => cache.take(r.seq) ?? decodeMessage(r);
    config.outputs.forEach((oc, i) => {
      const logger = this.log.child({ output: oc.id });
      const output = new Output({ config: oc, writer: instrumentWriter(createWriter(oc), oc.id, service.metrics), logger, counters: this.counters, deadLetter: this.deadLetter! });
      journal.addConsumer(oc.id);
      // Shaping per output, on the output's own stream clock (absent when no pipeline is configured).
      // Routes like decoding: a device binding's steps (its entry's or profile's), else its rule's.
      const shaping = createShaping({ steps: config.pipeline, rules: config.rules, ruleFor: (t) => rules.ruleFor(t), devices: devices?.decoders, onNotice: noticeReporter(oc.id, this.counters, logger) });
      const drain = new Drain({
        journal,
        output,
        decode,
        ...shaping,
        now: () => this.clock.nowMs(), // the clock that stamps arrivals also moves the stream clock
        // Bad input is refused at ingest; a journaled message fails only when the rules
        // changed since. The first output's drain reports it, so it is dead-lettered once.
        onDecodeError: i === 0 ? (r, e) => this.onBadMessage(r, e) : undefined,
        logger,
        counters: this.counters,
        onCommit: () => {
          if (ingest.holding > 0) setImmediate(() => ingest.retry()); // space may be free now
        },
      });
      drain.start();
      this.drains.push(drain);
    });
    // What matters at a start is what each output has yet to write; the journal also keeps
    // written messages (for replays) until its quota needs the room.
    const { mode, dir, sync, max_bytes: maxBytes, policy } = config.spool;
    const unwritten = Object.fromEntries(this.drains.map((d) => [d.id, d.lag.behind]));
    const perOutput = Object.entries(unwritten).map(([id, n]) => `${id} ${n}`).join(', ');
    this.log.info({ mode, ...(mode === 'durable' ? { dir, sync } : {}), maxBytes, policy, ...report, unwritten }, `spool: ${mode} mode, unwritten messages: ${perOutput || 'none (no outputs)'}`);

    if (config.broker) {
      // aedes, mqtt.js and serialport are loaded only when used: a daemon without them stays smaller.
      const { EmbeddedBroker, brokerOptionsFromConfig } = await import('./sources/embedded-broker.js');
      // Durable mode keeps the broker's state (client id owners, retained messages, persistent
      // sessions) beside the journal; memory mode writes nothing to disk.
      const stateDir = config.spool.mode === 'durable' ? join(config.spool.dir, 'broker') : undefined;
      this.broker = new EmbeddedBroker({
        ...brokerOptionsFromConfig(config.broker, config.limits.max_payload),
        ...(stateDir !== undefined && { stateDir }),
        // Decoders that learn from earlier messages (Homie's retained $description) learn
        // again from the retained copies; their readings, if any, are not ingested twice.
        onRetained: (m) => void decodeMessage({ sourceId: 'broker', topic: m.topic, payload: m.payload, receivedAt: this.clock.arrivalNs() }),
        logger: this.log.child({ source: 'broker' }),
        clock: this.clock,
        counters: this.counters,
      });
      this.sources.push(this.broker);
    }
    const filters = defaultFilters(rules, devices);
    // mqtt.js too: a daemon fed by its embedded broker alone holds none of it (~1.5 MB of RSS).
    const { MqttSource } = config.mqtt.length > 0 ? await import('./sources/mqtt-source.js') : { MqttSource: undefined };
    for (const mc of config.mqtt) {
      if (MqttSource === undefined) break;
      this.sources.push(new MqttSource({ config: { ...mc, subscriptions: sourceSubscriptions(mc, filters) }, logger: this.log.child({ source: mc.id }), clock: this.clock, ackBarrier: ingest.ackBarrier, counters: this.counters }));
    }
    const serialPorts = devices?.serialPorts ?? [];
    const { SerialSource } = serialPorts.length > 0 ? await import('./sources/serial/serial-source.js') : { SerialSource: undefined };
    for (const settings of serialPorts) {
      if (SerialSource === undefined) break;
      this.sources.push(new SerialSource({ settings, logger: this.log.child({ source: settings.id }), clock: this.clock, counters: this.counters }));
    }
    this.sources.push(...(this.deps.extraSources ?? []), this.self);
    // Each source on its own: one that fails is restarted with backoff, the others go on.
    const onMessage = (m: RawMessage): void => ingest.accept(m);
    this.supervisors = this.sources.map((source) => new SourceSupervisor({ source, onMessage, logger: this.log, counters: this.counters, now: () => this.clock.nowMs() }));
    await Promise.all(this.supervisors.map((s) => s.start()));
    await service.ready(); // READY=1
    this.log.info(
      { sources: this.sources.map((s) => s.id), outputs: this.drains.map((d) => d.id), brokerPort: this.brokerPort },
      'edgeflux started',
    );
  }

  /**
   * Stops within `shutdown_timeout`. Resolves true when nothing accepted was lost: in
   * durable mode that is always (what is unwritten stays in the journal, unless the
   * journal cannot be closed); in memory mode only when every output wrote everything.
   */
  async stop(opts: { reload?: boolean } = {}): Promise<boolean> {
    if (this.state === 'stopped' || this.state === 'stopping') return false;
    const started = this.state === 'running';
    this.state = 'stopping';
    const { config } = this.deps;
    const durable = config.spool.mode === 'durable';
    const deadline = this.clock.nowMs() + config.shutdown_timeout;
    const left = () => Math.max(0, deadline - this.clock.nowMs());
    this.log.info('stopping: closing sources, writing what is spooled');
    if (!opts.reload) await this.service?.stopping(); // STOPPING=1 (not when restarting for a reload)

    await Promise.allSettled(this.supervisors.map((s) => s.stop()));
    const released = this.ingest?.stop() ?? 0;
    if (released > 0) this.log.info({ messages: released }, `${released} messages held back by a full spool were not acknowledged; their senders keep them`);
    // Durable: an output that is not up would only use the time; its data is safe on disk.
    const results = await Promise.all(this.drains.map((d) => d.stop(durable && d.output.status.state !== 'up' ? 0 : left(), !durable)));
    let ok = true;
    try {
      await this.journal?.close();
    } catch (err) {
      ok = false;
      this.log.error({ err }, 'spool: closing the journal failed');
    }
    await this.deadLetter?.stop();
    await this.service?.stop();
    this.state = 'stopped';
    if (!started) return false;

    const behind = this.drains.map((d, i) => ({ output: d.id, messages: results[i]?.left ?? 0 })).filter((b) => b.messages > 0);
    if (behind.length === 0) this.log.info('stopped: every accepted reading was written');
    else if (durable) this.log.info({ behind }, 'stopped: the messages not yet written stay in the journal and are written after the next start');
    else {
      for (const b of behind) this.counters.inc('messages_dropped', { output: b.output, reason: 'shutdown' }, b.messages);
      this.log.error({ behind }, 'stopped with unwritten messages (memory mode: they are lost)');
      ok = false;
    }
    return ok;
  }

  /** Tells systemd a reload has begun (RELOADING=1). */
  async notifyReloading(): Promise<void> {
    await this.service?.reloading();
  }

  /** Tells systemd the daemon is ready again (READY=1), e.g. after a refused reload. */
  async notifyReady(): Promise<void> {
    await this.service?.ready();
  }

  /** The health listener's URL (with `service.http.port: 0`, the bound port), once started. */
  get healthUrl(): string | undefined {
    return this.service?.healthUrl;
  }

  /** What the service layer (health, metrics, edgeflux_internal) reads from the daemon. */
  private serviceHost(): ServiceHost {
    const refusal = () => this.ingest?.refusal;
    const spool = () => {
      if (!this.journal) return undefined;
      const r = refusal();
      return { bytes: this.journal.stats().bytes, maxBytes: this.deps.config.spool.max_bytes, ...(r && { refusing: r.reason === 'disk_full' ? 'disk full' : r.reason === 'quota' ? 'quota (policy block)' : 'journal error' }) };
    };
    const dir = this.deps.config.spool.mode === 'durable' ? this.deps.config.spool.dir : undefined;
    return {
      healthFacts: () => ({
        startedAt: this.startedAt,
        lastMessageAt: this.lastMessageAt,
        outputs: this.drains.map((d) => {
          const s = d.output.status;
          return { id: d.id, state: s.state, lastError: s.lastError, lastSuccessAt: s.lastSuccessAt, downSince: s.downSince };
        }),
        spool: spool(),
        ...(refusal() && { refusing: { ...refusal()!, ...(dir !== undefined && { dir }) } }),
        sources: this.supervisors.map((s) => s.state),
      }),
      outputs: () => this.drains.map((d) => ({ id: d.id, up: d.output.status.state === 'up', backlog: d.lag.behind, replayLag: d.replayLag })),
      sources: () => this.supervisors.map((s) => ({ id: s.id, up: s.state.state === 'up' })),
      spool,
      emitReadings: (rs) => this.self?.emit(rs),
      spoolStatus: () => this.spoolStatus(),
      statusUsers: () => statusUsers(this.deps.config),
      fieldUnits: (sourceId, topic) => this.unitsOf?.({ sourceId, topic }),
      receivedAt: async (seq) => {
        const [r] = (await this.journal?.read(seq, 1)) ?? [];
        return r === undefined ? undefined : Number(r.receivedAt / 1_000_000n);
      },
      statusFacts: () => {
        const s = this.spoolStatus();
        return {
          outputs: (s?.outputs ?? []).map((o) => ({ id: o.id, state: o.state, lastError: o.lastError, downSince: o.downSince, behind: o.behind, cursor: o.cursor })),
          ...(s && { spool: { mode: s.mode, bytes: s.journal.bytes, maxBytes: this.deps.config.spool.max_bytes, dropped: s.journal.dropped, holding: s.holding } }),
        };
      },
    };
  }

  /** Once: logs the error (fatal) and tells the owner (the CLI exits non-zero). */
  private fatal(err: Error): void {
    if (this.fatalError !== undefined || this.state !== 'running') return;
    this.fatalError = err;
    this.log.fatal({ err }, err.message);
    this.deps.onFatal?.(err);
  }

  private onBadMessage(m: MessageData, e: DecodeError): void {
    this.counters.inc('messages_failed', { source: m.sourceId, reason: e.reason });
    this.service?.badMessage({ source: m.sourceId, topic: m.topic, reason: e.reason, message: e.message, payload: m.payload });
    const code = PAYLOAD_CODES[e.reason];
    this.deadLetter?.record({ reason: e.reason, code, sourceId: m.sourceId, topic: m.topic, payload: m.payload, message: e.message });
    const suppressed = this.badInputLog.take(`${m.topic}\0${e.reason}`);
    if (suppressed >= 0) {
      this.log.warn({ code, source: m.sourceId, topic: m.topic, reason: e.reason, suppressed }, `bad message on ${m.topic}: ${e.message}`);
    }
  }
}

/**
 * Who may log in to the status page: the users of `service.http.users_file`, else those of
 * the embedded broker (scrypt hashes from `edgeflux passwd`).
 */
async function statusUsers(config: Config): Promise<{ verify?: (username: string, password: string) => Promise<boolean>; why?: string }> {
  let users: readonly { username: string; password_hash: string }[] = config.broker?.users ?? [];
  const file = config.service.http.users_file;
  if (file !== undefined) {
    const r = await readSecretFile(file, { baseDir: '/', trimNewline: false });
    if (!r.ok) return { why: `service.http.users_file: ${r.error}` };
    const parsed = parsePasswordFile(r.value);
    if (parsed.errors.length > 0) return { why: `service.http.users_file: ${file}:${parsed.errors[0]?.line}: ${parsed.errors[0]?.message}` };
    users = parsed.entries.map((e) => ({ username: e.username, password_hash: e.hash }));
  }
  if (users.length === 0) return { why: 'set service.http.users_file, or give the embedded broker users' };
  const byName = new Map(users.map((u) => [u.username, u.password_hash]));
  return {
    verify: async (username, password) => {
      const hash = byName.get(username);
      return hash !== undefined && (await verifyPassword(password, hash));
    },
  };
}
