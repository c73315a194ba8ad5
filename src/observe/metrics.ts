/**
 * edgeflux's own figures as Prometheus metrics (prom-client, on a registry of its own,
 * never the global default one) and as one plain snapshot (`figures()`) that the
 * internal points (internal-metrics.ts) and STATUS= (status-line.ts) read.
 *
 * Design: `Counters` stays the single store of event counts. Its hot-path incrementer adds
 * to a number it holds, and its synchronous `get()` drives logic (drain.ts), which
 * prom-client (async `get()`, a label hash per `inc`) would slow down and complicate.
 * So counters are read at scrape time: each counter of COUNTER_TABLE becomes
 * `edgeflux_<name>_total` with its declared labels, registered once it has been counted
 * (a name first counted later appears at the next scrape). Gauges (queue depth, spool bytes,
 * pending points, device last-seen…) are read from `MetricsProviders` the daemon implements,
 * and the write-latency histogram is fed by `instrumentWriter()` (sink/instrument-writer.ts) around each output's writer.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { COUNTER_TABLE, labelNames, type CounterName } from './counter-table.js';
import type { CounterEntry, Counters } from './counters.js';
import { EventLoopLag, type LoopLag } from './event-loop-lag.js';
import { registerGauges } from './metrics-gauges.js';
import type { MetricsProviders, OutputFigures, SourceFigures } from './metrics-providers.js';

export type { DeviceFigures, MetricsProviders, OutputFigures, SourceFigures } from './metrics-providers.js';

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics, registered once per process on a registry of their own.
 * Their event-loop delay histogram samples every 100 ms (prom-client's default is 10 ms:
 * 100 wake-ups a second of an otherwise idle daemon; edgeflux's own lag figures sample at
 * 20 ms, see event-loop-lag.ts).
 */
export function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 100 });
  }
  return processRegistry;
}

export interface MetricsOptions {
  readonly counters: Counters;
  readonly providers?: MetricsProviders;
  /**
   * Also render prom-client's default process metrics (`process_*`, `nodejs_*`). They
   * cannot be torn down (a GC observer and a delay histogram stay for the process
   * lifetime), so they live on one registry per process (`processMetrics()`), which
   * every Metrics with this option shares: a reload makes a new Metrics, not new
   * collectors. Default false.
   */
  readonly nodeDefaults?: boolean;
  /** Event-loop lag summary window. Default 10 s. */
  readonly lagWindowMs?: number;
  /** Stop sampling the lag after a window without `touch()` (see event-loop-lag.ts). Default false. */
  readonly lagPausesWhenIdle?: boolean;
  readonly version?: string;
  readonly now?: () => number;
}

/** Seconds; upper bounds of the write latency buckets. */
export const WRITE_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface LatencyFigures {
  readonly count: number;
  readonly sumSeconds: number;
  /** Cumulative counts per bucket of WRITE_LATENCY_BUCKETS (same order). */
  readonly buckets: readonly number[];
}

/** Everything at one instant, for internal points and STATUS=. */
export interface Figures {
  readonly atMs: number;
  readonly uptimeSeconds: number;
  readonly counters: readonly CounterEntry[];
  readonly outputs: readonly OutputFigures[];
  readonly sources: readonly SourceFigures[];
  readonly queueDepth?: number;
  /** `refusing`: why the journal refuses appends (nothing is acknowledged meanwhile). */
  readonly spool?: { readonly bytes: number; readonly maxBytes?: number; readonly refusing?: string };
  readonly devices: { readonly total: number; readonly stale: number };
  readonly eventLoop: LoopLag;
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
  readonly writeLatency: ReadonlyMap<string, LatencyFigures>;
  readonly clockSynchronized?: boolean;
}

interface Latency {
  count: number;
  sumSeconds: number;
  buckets: number[];
}

export class Metrics {
  readonly registry = new Registry();
  private readonly counterMetrics = new Map<CounterName, Counter<string>>();
  private readonly latency = new Map<string, Latency>();
  private readonly lag: EventLoopLag;
  private histogram: Histogram<string> | undefined;
  private readonly now: () => number;
  private startedAt = 0;
  private started = false;

  constructor(private readonly opts: MetricsOptions) {
    this.now = opts.now ?? Date.now;
    this.lag = new EventLoopLag({ windowMs: opts.lagWindowMs, pauseWhenIdle: opts.lagPausesWhenIdle });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = this.now();
    this.lag.start();
    registerGauges(this.registry, {
      providers: () => this.opts.providers ?? {},
      lag: () => this.lag.current,
      uptimeSeconds: () => (this.now() - this.startedAt) / 1000,
      version: this.opts.version ?? 'unknown',
    });
    this.histogram = new Histogram({
      name: 'edgeflux_write_duration_seconds',
      help: 'Duration of write requests to InfluxDB, by output and outcome.',
      labelNames: ['output', 'outcome'],
      buckets: WRITE_LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  /** Work is being done: keeps the lag sampler running (see `lagPausesWhenIdle`). */
  touch(): void {
    this.lag.touch();
  }

  stop(): void {
    this.lag.stop();
    this.registry.clear();
    this.counterMetrics.clear();
    this.histogram = undefined;
    this.started = false;
  }

  /** Records one write request's duration (what `instrumentWriter` calls). */
  observeWrite(output: string, seconds: number, ok: boolean): void {
    this.histogram?.observe({ output, outcome: ok ? 'ok' : 'error' }, seconds);
    let l = this.latency.get(output);
    if (!l) this.latency.set(output, (l = { count: 0, sumSeconds: 0, buckets: WRITE_LATENCY_BUCKETS.map(() => 0) }));
    l.count++;
    l.sumSeconds += seconds;
    for (let i = 0; i < WRITE_LATENCY_BUCKETS.length; i++) if (seconds <= (WRITE_LATENCY_BUCKETS[i] as number)) l.buckets[i]!++;
  }

  /** Prometheus text of every metric, counters read from `Counters` now. */
  async render(): Promise<string> {
    this.syncCounters();
    const own = await this.registry.metrics();
    return this.opts.nodeDefaults ? own + (await processMetrics().metrics()) : own;
  }

  /** The same figures as one plain object. */
  figures(): Figures {
    const p = this.opts.providers ?? {};
    const devices = p.devices?.() ?? [];
    const mem = process.memoryUsage();
    const queueDepth = p.queueDepth?.();
    const spool = p.spool?.();
    const clockSynchronized = p.clockSynchronized?.();
    const atMs = this.now();
    return {
      atMs,
      uptimeSeconds: Math.max(0, (atMs - this.startedAt) / 1000),
      counters: this.opts.counters.snapshot(),
      outputs: p.outputs?.() ?? [],
      sources: p.sources?.() ?? [],
      ...(queueDepth !== undefined && { queueDepth }),
      ...(spool !== undefined && { spool }),
      devices: { total: devices.length, stale: devices.filter((d) => d.stale).length },
      eventLoop: this.lag.current,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      writeLatency: new Map([...this.latency].map(([k, v]) => [k, { ...v, buckets: [...v.buckets] }])),
      ...(clockSynchronized !== undefined && { clockSynchronized }),
    };
  }

  /** Registers a prom-client counter for each counter counted since the last scrape; each reads its series when collected. */
  private syncCounters(): void {
    const counters = this.opts.counters;
    for (const name of counters.names()) {
      if (this.counterMetrics.has(name)) continue;
      const metric = new Counter({
        name: `edgeflux_${name}_total`,
        help: COUNTER_TABLE[name].help,
        labelNames: labelNames(name),
        registers: [this.registry],
        collect() {
          this.reset();
          for (const e of counters.entries(name)) this.inc(e.labels, e.value);
        },
      });
      this.counterMetrics.set(name, metric);
    }
  }
}
