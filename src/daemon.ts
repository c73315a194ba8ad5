import type { Config, OutputConfig, SpoolConfig } from './config/types.js';
import type { Logger } from './observe/logger.js';
import { Counters } from './observe/counters.js';
import { RateLimiter } from './util/rate-limit.js';
import { systemClock, type Clock } from './clock.js';
import type { DecodeError, MessageData, RawMessage } from './types.js';
import type { Source } from './sources/source.js';
import type { EmbeddedBroker } from './sources/embedded-broker.js';
import { SourceSupervisor } from './sources/supervisor.js';
import { RuleSet } from './devices/rules.js';
import type { Devices } from './devices/device-config.js';
import { decodeDeviceMessage, DeviceStatusLog, loadDevices } from './devices/device-messages.js';
import { filterMatcher } from './util/topic-template.js';
import type { Journal, JournalRecord } from './journal/journal.js';
import { createJournal } from './journal/create-journal.js';
import { spoolDirError } from './journal/spool-dir.js';
import { Ingest } from './ingest/ingest.js';
import { DeadLetter } from './sink/dead-letter.js';
import { DecodedCache } from './ingest/decoded-cache.js';
import { Drain, type DrainOptions } from './sink/drain.js';
import { createShaping, noticeReporter } from './pipeline/shaping.js';
import { Output } from './sink/output.js';
import { createWriter } from './sink/influx-writer.js';
import { Service } from './observe/service.js';
import { SelfSource, decodeSelf, isSelfMessage } from './sources/self-source.js';
import { instrumentWriter } from './sink/instrument-writer.js';
import { isDecodeError, type Reading } from './types.js';
import { PAYLOAD_CODES, codeOf } from './util/errors.js';
import { serviceHost, type DaemonParts, type SpoolStatus } from './daemon/service-host.js';
import { createSources } from './daemon/sources.js';

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

export type { SpoolStatus } from './daemon/service-host.js';

/** Decodes a message (device profiles, then rules); `onStatus` hears device status changes. */
type DecodeMessage = (m: MessageData, onStatus?: Parameters<typeof decodeDeviceMessage>[3]) => Reading[] | DecodeError;

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
    const journal = this.journal;
    if (!journal || !this.ingest) return undefined;
    return {
      mode: this.deps.config.spool.mode,
      journal: journal.stats(),
      holding: this.ingest.holding,
      outputs: this.drains.map((d) => {
        const saved = journal.savedCursor(d.id);
        return { id: d.id, ...d.output.status, ...d.lag, ...d.pending, ...(saved !== undefined && { saved }) };
      }),
    };
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`daemon: start() called in state ${this.state}`);
    this.state = 'running';
    const { config } = this.deps;
    const rules = new RuleSet(config.rules, config.limits);
    const devices = await loadDevices(config, this.log); // profiles named by devices[] and serial[]
    this.unitsOf = devices && ((m) => devices.decoders.units(m));
    const self = new SelfSource({ counters: this.counters, arrivalNs: () => this.clock.arrivalNs() });
    this.self = self;
    const service = await this.startService();
    this.deadLetter = new DeadLetter({ path: config.dead_letter.path, maxBytes: config.dead_letter.max_bytes, logger: this.log, counters: this.counters });
    await this.deadLetter.start();
    const journal = (this.deps.createJournal ?? createJournal)(config.spool, this.log.child({ component: 'journal' }), this.counters, (err) => this.fatal(err));
    this.journal = journal;
    const report = await journal.open();

    // One decode for ingest and every drain, so that a replay gives the same points.
    // Device profiles first, then the rules; a device status is a `device_status` reading on
    // both paths, counted and logged on the ingest path only (onStatus).
    const decodeMessage: DecodeMessage = (m, onStatus) => (isSelfMessage(m) ? decodeSelf(m) : decodeDeviceMessage(m, devices?.decoders, rules, onStatus));
    const cache = new DecodedCache(Math.max(1, config.outputs.length));
    const ingest = this.startIngest(journal, cache, decodeMessage, devices, service);
    // A drain decodes the record itself when the cache does not hold its readings. Each
    // drain takes from the cache as itself, so that one far behind is not waited for.
    config.outputs.forEach((oc, i) =>
      this.drains.push(this.startDrain(oc, i === 0, journal, ingest, (r: JournalRecord) => cache.take(r.seq, i) ?? decodeMessage(r), rules, devices, service)),
    );
    this.logSpool(report);

    const configured = await createSources({
      config,
      rules,
      devices,
      learn: (m) => void decodeMessage(m),
      ackBarrier: ingest.ackBarrier,
      logger: this.log,
      clock: this.clock,
      counters: this.counters,
    });
    this.broker = configured.broker;
    this.sources = [...configured.sources, ...(this.deps.extraSources ?? []), self];
    // Each source on its own: one that fails is restarted with backoff, the others go on.
    const onMessage = (m: RawMessage): void => ingest.accept(m);
    this.supervisors = this.sources.map(
      (source) => new SourceSupervisor({ source, onMessage, logger: this.log, counters: this.counters, now: () => this.clock.nowMs() }),
    );
    await Promise.all(this.supervisors.map((s) => s.start()));
    await service.ready(); // READY=1
    this.log.info({ sources: this.sources.map((s) => s.id), outputs: this.drains.map((d) => d.id), brokerPort: this.brokerPort }, 'edgeflux started');
  }

  /** Takes over what a replaced daemon knew, and starts the service layer (health, metrics, systemd). */
  private async startService(): Promise<Service> {
    const previous = this.previous;
    this.previous = undefined;
    this.startedAt = previous?.startedAt ?? this.clock.nowMs();
    this.lastMessageAt = previous?.lastMessageAt;
    const service = new Service({
      config: this.deps.config.service,
      logger: this.log,
      counters: this.counters,
      host: serviceHost(this.parts(), this.deps.config),
      ...(this.deps.version !== undefined && { version: this.deps.version }),
      ...(this.deps.nodeMetrics !== undefined && { nodeDefaults: this.deps.nodeMetrics }),
      ...(this.deps.env !== undefined && { env: this.deps.env }),
      ...(previous?.service && { previous: previous.service }),
    });
    this.service = service;
    await service.checkClock(); // may wait for the NTP sync (extending systemd's start timeout)
    await service.start(); // /healthz, /metrics and watchdog pings during journal recovery
    return service;
  }

  /** The ack path: validate (decode once), append to the journal, then acknowledge. */
  private startIngest(journal: Journal, cache: DecodedCache, decodeMessage: DecodeMessage, devices: Devices | undefined, service: Service): Ingest {
    const { config } = this.deps;
    const deviceStatus = new DeviceStatusLog(this.log, this.counters);
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
      onBadMessage: (m, e) => this.onBadMessage(m, e),
      cache,
      counters: this.counters,
      logger: this.log,
      onFatal: (err) =>
        this.fatal(config.spool.mode === 'durable' ? spoolDirError(config.spool.dir, err) : err instanceof Error ? err : new Error(String(err))),
    });
    this.ingest = ingest;
    return ingest;
  }

  /** One output's drain: journal → decode → shape → encode → batch → write → commit. */
  private startDrain(
    oc: OutputConfig,
    first: boolean,
    journal: Journal,
    ingest: Ingest,
    decode: DrainOptions['decode'],
    rules: RuleSet,
    devices: Devices | undefined,
    service: Service,
  ): Drain {
    const { config } = this.deps;
    const logger = this.log.child({ output: oc.id });
    const output = new Output({
      config: oc,
      writer: instrumentWriter(createWriter(oc), oc.id, service.metrics),
      logger,
      counters: this.counters,
      deadLetter: this.deadLetter!,
    });
    journal.addConsumer(oc.id);
    // Shaping per output, on the output's own stream clock (absent when no pipeline is configured).
    // Routes like decoding: a device binding's steps (its entry's or profile's), else its rule's.
    const shaping = createShaping({
      steps: config.pipeline,
      rules: config.rules,
      ruleFor: (t) => rules.ruleFor(t),
      devices: devices?.decoders,
      onNotice: noticeReporter(oc.id, this.counters, logger),
    });
    const drain = new Drain({
      journal,
      output,
      decode,
      ...shaping,
      now: () => this.clock.nowMs(), // the clock that stamps arrivals also moves the stream clock
      // Bad input is refused at ingest; a journaled message fails only when the rules
      // changed since. The first output's drain reports it, so it is dead-lettered once.
      onDecodeError: first ? (r, e) => this.onBadMessage(r, e) : undefined,
      logger,
      counters: this.counters,
      onCommit: () => {
        if (ingest.holding > 0) setImmediate(() => ingest.retry()); // space may be free now
      },
    });
    drain.start();
    return drain;
  }

  /**
   * What matters at a start is what each output has yet to write; the journal also keeps
   * written messages (for replays) until its quota needs the room.
   */
  private logSpool(report: Awaited<ReturnType<Journal['open']>>): void {
    const { mode, dir, sync, max_bytes: maxBytes, policy } = this.deps.config.spool;
    const unwritten = Object.fromEntries(this.drains.map((d) => [d.id, d.lag.behind]));
    const perOutput = Object.entries(unwritten)
      .map(([id, n]) => `${id} ${n}`)
      .join(', ');
    this.log.info(
      { mode, ...(mode === 'durable' ? { dir, sync } : {}), maxBytes, policy, ...report, unwritten },
      `spool: ${mode} mode, unwritten messages: ${perOutput || 'none (no outputs)'}`,
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

  /** The running parts, for the service host (looked up when asked). */
  private parts(): DaemonParts {
    return {
      journal: () => this.journal,
      ingest: () => this.ingest,
      drains: () => this.drains,
      supervisors: () => this.supervisors,
      startedAt: () => this.startedAt,
      lastMessageAt: () => this.lastMessageAt,
      emitReadings: (rs) => this.self?.emit(rs),
      spoolStatus: () => this.spoolStatus(),
      unitsOf: (m) => this.unitsOf?.(m),
    };
  }

  /** Once: logs the error (fatal) and tells the owner (the CLI exits non-zero). */
  private fatal(err: Error): void {
    if (this.fatalError !== undefined || this.state !== 'running') return;
    this.fatalError = err;
    this.log.fatal({ err, code: codeOf(err) }, err.message);
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
