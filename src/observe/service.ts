/**
 * Everything that makes edgeflux run like a service, built from the `service:` config
 * section and driven by the daemon through one object: metrics (prom-client) and the
 * `edgeflux_internal` points, the /healthz + /metrics listener, stale devices with their
 * `device_status` points, the clock check and step monitor, and systemd notifications
 * (READY/WATCHDOG/STATUS/RELOADING/STOPPING). The daemon implements `ServiceHost`.
 *
 * Lifecycle, as the daemon calls it:
 *   await service.checkClock()   before sources start (may wait for the NTP sync)
 *   await service.start()        metrics, health listener, timers, watchdog pings
 *   await service.ready()        once sources and outputs are up        → READY=1
 *   service.observe(readings)    for every decoded batch (device last-seen)
 *   await service.reloading() … await service.reconfigure(cfg); await service.ready()
 *   await service.stopping()     first thing in stop()                  → STOPPING=1
 *   await service.stop()         last thing in stop()
 */
import type { ServiceConfig } from '../config/schema-service.js';
import { SELF_SOURCE_ID, type DecodeReason, type Reading } from '../types.js';
import { checkClock, logClockCheck, waitForClockSync, ClockStepMonitor, type ClockCheckResult } from './clock-check.js';
import type { Counters } from './counters.js';
import type { HealthSource } from './health.js';
import { HealthServer } from './health-server.js';
import { InternalMetricsReporter } from './internal-metrics.js';
import type { Logger } from './logger.js';
import { Metrics, type DeviceFigures, type MetricsProviders } from './metrics.js';
import type { NotifyTransport } from './notify-transport.js';
import { systemdNotifyCommand } from './notify-transport.js';
import { SdNotifier } from './sd-notify.js';
import { StaleDevices } from './stale-devices.js';
import { statusLine } from './status-line.js';
import { BadInputLog } from './bad-input.js';
import { DeviceTable } from './device-table.js';
import type { StatusFacts } from './status-snapshot.js';
import { loginRequired } from './status-login.js';

/** What the daemon provides. `devices` and `clockSynchronized` of MetricsProviders are filled in here. */
export interface ServiceHost extends HealthSource, Omit<MetricsProviders, 'devices' | 'clockSynchronized'> {
  /** Routes readings edgeflux makes itself (edgeflux_internal, device_status) to the outputs like decoded ones. */
  emitReadings(readings: Reading[]): void;
  /** The spool and every output's position in it, served as JSON at `/spool`. */
  spoolStatus?(): unknown;
  /** Outputs and spool for the status page; absent: the page shows none. */
  statusFacts?(): StatusFacts;
  /** The units a device profile declares for the fields of a message from (source, topic): field → unit. */
  fieldUnits?(source: string, topic: string): Readonly<Record<string, string>> | undefined;
  /** When the journal record at `seq` (or the oldest stored after it) arrived, ms since the epoch; undefined when none. */
  receivedAt?(seq: number): Promise<number | undefined>;
  /** Checks a status page login (scrypt hashes); undefined = no users configured, with why. */
  statusUsers?(): Promise<{ verify?: (username: string, password: string) => Promise<boolean>; why?: string }>;
}

export interface ServiceOptions {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly host: ServiceHost;
  readonly version?: string;
  /** prom-client's process metrics; once per process (see MetricsOptions). Default false. */
  readonly nodeDefaults?: boolean;
  /** Default `process.env` (NOTIFY_SOCKET, WATCHDOG_USEC). */
  readonly env?: NodeJS.ProcessEnv;
  /** The service this one replaces on a reload: its device states (and clock state) carry over. */
  readonly previous?: Service;
  /** Overrides the notify transport (tests). */
  readonly notifyTransport?: (socket: string) => NotifyTransport;
}

/** How often the throughput summary is logged. */
export const SUMMARY_EVERY_MS = 5 * 60_000;

export class Service {
  readonly metrics: Metrics;
  readonly devices: StaleDevices | undefined;
  /** Every device seen, for the status page (always on; bounded by stale_devices.max_devices). */
  readonly table: DeviceTable;
  /** The latest bad messages, for the status page. */
  readonly bad: BadInputLog;
  readonly notifier: SdNotifier;
  private config: ServiceConfig;
  private health: HealthServer | undefined;
  private reporter: InternalMetricsReporter | undefined;
  private clockMonitor: ClockStepMonitor | undefined;
  private clockSynced: boolean | undefined;
  private readonly log: Logger;
  private summaryTimer: ReturnType<typeof setInterval> | undefined;
  /** Its own rate window: the STATUS= line keeps another. */
  private readonly summaryLine = statusLine(() => this.metrics.figures());

  constructor(private readonly opts: ServiceOptions) {
    this.config = opts.config;
    this.log = opts.logger;
    const c = opts.config;
    const host = opts.host;
    this.devices = c.stale_devices.enabled
      ? new StaleDevices({
          logger: opts.logger.child({ component: 'devices' }),
          onStatus: (r) => host.emitReadings([r]),
          tag: c.stale_devices.tag,
          factor: c.stale_devices.factor,
          minSilenceMs: c.stale_devices.min_silence,
          ...(c.stale_devices.default_interval > 0 && { defaultIntervalMs: c.stale_devices.default_interval }),
          intervals: c.stale_devices.intervals,
          checkEveryMs: c.stale_devices.check_every,
          maxDevices: c.stale_devices.max_devices,
          forgetAfterMs: c.stale_devices.forget_after,
        })
      : undefined;
    const devices = this.devices;
    if (devices && opts.previous?.devices) devices.adopt(opts.previous.devices);
    this.table = new DeviceTable(c.stale_devices.tag, c.stale_devices.max_devices, host.fieldUnits && ((source, topic) => host.fieldUnits?.(source, topic)));
    if (opts.previous) this.table.adopt(opts.previous.table);
    this.bad = opts.previous?.bad ?? new BadInputLog();
    this.clockSynced = opts.previous?.clockSynced;
    this.metrics = new Metrics({
      lagPausesWhenIdle: true, // an idle daemon is not woken to measure its own lag
      counters: opts.counters,
      version: opts.version,
      nodeDefaults: opts.nodeDefaults,
      providers: {
        outputs: () => host.outputs?.() ?? [],
        sources: () => host.sources?.() ?? [],
        queueDepth: () => host.queueDepth?.(),
        spool: () => host.spool?.(),
        devices: (): DeviceFigures[] => devices?.list() ?? [],
        clockSynchronized: () => this.clockSynced,
      },
    });
    const command = c.notify.command;
    this.notifier = new SdNotifier({
      logger: opts.logger.child({ component: 'systemd' }),
      env: opts.env,
      transport: opts.notifyTransport ?? ((socket) => systemdNotifyCommand({ socket, command })),
      status: statusLine(() => this.metrics.figures()),
      statusIntervalMs: c.notify.status_interval,
    });
  }

  /** The health listener's URL, once started (when enabled). */
  get healthUrl(): string | undefined {
    return this.health?.url;
  }

  /** Checks the clock (and waits for its sync when configured); call before the sources start. */
  async checkClock(): Promise<ClockCheckResult | undefined> {
    const c = this.config.clock;
    if (!c.check) return undefined;
    const r =
      c.wait_for_sync > 0
        ? await waitForClockSync({
            maxWaitMs: c.wait_for_sync,
            onWait: (left) => {
              void this.notifier.extendTimeout(left + 30_000);
              void this.notifier.status('waiting for the clock to synchronise');
            },
          })
        : await checkClock();
    this.clockSynced = r.state === 'unknown' ? undefined : r.state === 'synchronized';
    logClockCheck(this.log, r);
    return r;
  }

  async start(): Promise<void> {
    this.metrics.start();
    this.devices?.start();
    this.clockMonitor = new ClockStepMonitor({
      logger: this.log,
      thresholdMs: this.config.clock.step_threshold,
      onStep: (s) => {
        this.opts.counters.inc('clock_steps', { direction: s.stepMs > 0 ? 'forward' : 'backward' });
        if (s.stepMs > 0 && this.clockSynced === false) this.clockSynced = true;
      },
    });
    this.clockMonitor.start();
    this.notifier.start();
    await this.startHttp();
    this.startReporter();
    // One throughput line at info every few minutes: quiet at steady state, never per reading.
    this.summaryLine();
    this.summaryTimer = setInterval(() => this.log.info(`summary: ${this.summaryLine()}`), SUMMARY_EVERY_MS);
    this.summaryTimer.unref();
  }

  /** Notes the devices named in decoded readings (cheap: a Map update or two per reading). */
  observe(readings: readonly Reading[], source = '', topic = ''): void {
    this.metrics.touch();
    this.devices?.observe(readings);
    this.table.observe(readings, source, Date.now(), topic);
    this.health?.feed?.observeTail(readings, topic, this.config.stale_devices.tag);
  }

  /** Notes a bad message for the status page (the daemon counts, logs and dead-letters it). */
  badMessage(e: { source: string; topic: string; reason: DecodeReason; message: string; payload: Buffer }): void {
    this.bad.record({ ...e, atMs: Date.now() });
  }

  ready(): Promise<void> {
    return this.notifier.ready('running');
  }

  reloading(): Promise<void> {
    return this.notifier.reloading('reloading the configuration');
  }

  /**
   * Applies a new `service:` section on reload: the listener is rebound when http
   * changed, the internal reporter restarted when its settings changed, thresholds and
   * the rest apply as they are read. Stale-device, clock and notify settings take
   * effect at the next restart (logged).
   */
  async reconfigure(next: ServiceConfig): Promise<void> {
    const prev = this.config;
    this.config = next;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(prev.http, next.http) || !same(prev.health, next.health)) {
      await this.health?.stop();
      this.health = undefined;
      await this.startHttp();
    }
    if (!same(prev.internal_metrics, next.internal_metrics)) {
      this.reporter?.stop();
      this.reporter = undefined;
      this.startReporter();
    }
    const later = (['stale_devices', 'clock', 'notify'] as const).filter((k) => !same(prev[k], next[k]));
    if (later.length > 0) this.log.warn({ sections: later.map((k) => `service.${k}`) }, 'these settings take effect at the next restart');
  }

  stopping(): Promise<void> {
    return this.notifier.stopping('stopping: flushing outputs');
  }

  async stop(): Promise<void> {
    clearInterval(this.summaryTimer);
    this.summaryTimer = undefined;
    this.reporter?.stop();
    this.clockMonitor?.stop();
    this.devices?.stop();
    await this.health?.stop();
    this.health = undefined;
    await this.notifier.stop();
    this.metrics.stop();
  }

  private async startHttp(): Promise<void> {
    const h = this.config.http;
    if (!h.enabled) return;
    const hc = this.config.health;
    const login = loginRequired(h.host, h.login) ? ((await this.opts.host.statusUsers?.()) ?? { why: 'no users' }) : undefined;
    if (login && !login.verify)
      this.log.warn({ why: login.why }, 'status page: a login is required but there is no user; the page is closed (docs/status-page.md)');
    this.health = new HealthServer({
      host: h.host,
      port: h.port,
      requestTimeoutMs: h.request_timeout,
      maxConnections: h.max_connections,
      health: this.opts.host,
      metrics: this.metrics,
      ...(this.opts.host.spoolStatus && { spoolStatus: () => this.opts.host.spoolStatus?.() }),
      status: {
        counters: this.opts.counters,
        devices: this.table,
        stale: () => new Set((this.devices?.list() ?? []).filter((d) => d.stale).map((d) => d.device)),
        bad: this.bad,
        facts: () => this.opts.host.statusFacts?.() ?? { outputs: [] },
        ...(this.opts.host.receivedAt && { receivedAt: (seq: number) => this.opts.host.receivedAt?.(seq) ?? Promise.resolve(undefined) }),
      },
      ...(login && { login }),
      thresholds: { noDataAfterMs: hc.no_data_after, outputDownAfterMs: hc.output_down_after, spoolNearQuota: hc.spool_near_quota },
      logger: this.log.child({ component: 'http' }),
    });
    await this.health.start();
  }

  private startReporter(): void {
    const im = this.config.internal_metrics;
    if (!im.enabled) return;
    this.reporter = new InternalMetricsReporter({
      figures: () => this.metrics.figures(),
      sink: (r) => this.opts.host.emitReadings(r),
      intervalMs: im.interval,
      selfSourceId: SELF_SOURCE_ID,
      idleIntervalMs: im.idle_interval,
      tags: im.tags,
      logger: this.log,
    });
    this.reporter.start();
  }
}
