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
 *
 * prom-client (with the OpenTelemetry API it loads) is imported at the first scrape, not at
 * start: a daemon nobody scrapes never pays its ~4.6 MB of RSS (docs/raspberry-pi.md). So the
 * write-latency histogram is kept here and written in the exposition format by
 * `latencyText`, and the counters and gauges are registered when the registry is built.
 */
import type { Counter, Registry } from 'prom-client';
import { COUNTER_TABLE, labelNames, type CounterName } from './counter-table.js';
import type { CounterEntry, Counters } from './counters.js';
import { EventLoopLag, type LoopLag } from './event-loop-lag.js';
import type { MetricsProviders, OutputFigures, SourceFigures } from './metrics-providers.js';

export type { DeviceFigures, MetricsProviders, OutputFigures, SourceFigures } from './metrics-providers.js';

/** The exposition format's content type (prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`; a test keeps them equal). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type PromClient = typeof import('prom-client');
type Gauges = typeof import('./metrics-gauges.js');

let loading: Promise<{ readonly prom: PromClient; readonly gauges: Gauges }> | undefined;

/** prom-client and the gauges built on it, imported once, when first wanted. */
function prometheus(): Promise<{ readonly prom: PromClient; readonly gauges: Gauges }> {
  loading ??= Promise.all([import('prom-client'), import('./metrics-gauges.js')]).then(([prom, gauges]) => ({ prom, gauges }));
  return loading;
}

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics, registered once per process on a registry of their own.
 * Their event-loop delay histogram samples every 100 ms (prom-client's default is 10 ms:
 * 100 wake-ups a second of an otherwise idle daemon; edgeflux's own lag figures sample at
 * 20 ms, see event-loop-lag.ts).
 */
export async function processMetrics(): Promise<Registry> {
  const { prom } = await prometheus();
  if (processRegistry === undefined) {
    processRegistry = new prom.Registry();
    prom.collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 100 });
  }
  return processRegistry;
}

export interface MetricsOptions {
  readonly counters: Counters;
  readonly providers?: MetricsProviders;
  /**
   * Also render prom-client's default process metrics (`process_*`, `nodejs_*`), from the
   * first scrape on (their counters, e.g. GC time, count from then). They cannot be torn down (a GC observer and a delay histogram stay for the process
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

interface LatencySeries {
  readonly output: string;
  readonly outcome: string;
  readonly l: Latency;
}

const LATENCY_NAME = 'edgeflux_write_duration_seconds';
const LATENCY_HELP = 'Duration of write requests to InfluxDB, by output and outcome.';

/** A label value as the exposition format quotes it. */
const labelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The write-latency histogram in the Prometheus text format (HELP, TYPE, then per output and outcome: buckets, +Inf, sum, count). */
function latencyText(series: Iterable<LatencySeries>): string {
  let out = `# HELP ${LATENCY_NAME} ${LATENCY_HELP}\n# TYPE ${LATENCY_NAME} histogram\n`;
  for (const { output, outcome, l } of series) {
    const labels = `output="${labelValue(output)}",outcome="${labelValue(outcome)}"`;
    WRITE_LATENCY_BUCKETS.forEach((le, i) => (out += `${LATENCY_NAME}_bucket{le="${le}",${labels}} ${l.buckets[i]}\n`));
    out += `${LATENCY_NAME}_bucket{le="+Inf",${labels}} ${l.count}\n`;
    out += `${LATENCY_NAME}_sum{${labels}} ${l.sumSeconds}\n${LATENCY_NAME}_count{${labels}} ${l.count}\n`;
  }
  return out;
}

const emptyLatency = (): Latency => ({ count: 0, sumSeconds: 0, buckets: WRITE_LATENCY_BUCKETS.map(() => 0) });

/** Counts one duration: the count, the sum and every bucket whose bound it is within (cumulative, as Prometheus has them). */
function observe(l: Latency, seconds: number): void {
  l.count++;
  l.sumSeconds += seconds;
  for (let i = 0; i < WRITE_LATENCY_BUCKETS.length; i++) if (seconds <= (WRITE_LATENCY_BUCKETS[i] as number)) l.buckets[i]!++;
}

export class Metrics {
  /** prom-client's registry of the gauges and counters: built at the first scrape after `start()`. */
  private registry: Registry | undefined;
  private readonly counterMetrics = new Map<CounterName, Counter<string>>();
  /** Per output (for `figures()`). */
  private readonly latency = new Map<string, Latency>();
  /** Per output and outcome (the histogram of `/metrics`). */
  private readonly latencySeries = new Map<string, LatencySeries>();
  private readonly lag: EventLoopLag;
  private readonly now: () => number;
  private startedAt = 0;
  private started = false;

  constructor(private readonly opts: MetricsOptions) {
    this.now = opts.now ?? Date.now;
    this.lag = new EventLoopLag({ windowMs: opts.lagWindowMs, pauseWhenIdle: opts.lagPausesWhenIdle });
  }

  get contentType(): string {
    return PROMETHEUS_CONTENT_TYPE;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = this.now();
    this.lag.start();
  }

  /** Work is being done: keeps the lag sampler running (see `lagPausesWhenIdle`). */
  touch(): void {
    this.lag.touch();
  }

  stop(): void {
    this.lag.stop();
    this.registry?.clear();
    this.registry = undefined;
    this.counterMetrics.clear();
    this.started = false;
  }

  /** Records one write request's duration (what `instrumentWriter` calls). */
  observeWrite(output: string, seconds: number, ok: boolean): void {
    let l = this.latency.get(output);
    if (!l) this.latency.set(output, (l = emptyLatency()));
    observe(l, seconds);
    const outcome = ok ? 'ok' : 'error';
    const key = `${output}\u0000${outcome}`;
    let s = this.latencySeries.get(key);
    if (!s) this.latencySeries.set(key, (s = { output, outcome, l: emptyLatency() }));
    observe(s.l, seconds);
  }

  /** Prometheus text of every metric, counters read from `Counters` now; empty before `start()` and after `stop()` (but for the process metrics). */
  async render(): Promise<string> {
    const registry = await this.prometheusRegistry();
    const own = registry === undefined ? '' : (await registry.metrics()) + latencyText(this.latencySeries.values());
    return this.opts.nodeDefaults ? own + (await (await processMetrics()).metrics()) : own;
  }

  /** The registry with the gauges and every counter counted so far; undefined unless started. */
  private async prometheusRegistry(): Promise<Registry | undefined> {
    if (!this.started) return undefined;
    const { prom, gauges } = await prometheus();
    if (!this.started) return undefined; // stopped while prom-client loaded
    if (this.registry === undefined) {
      this.registry = new prom.Registry();
      gauges.registerGauges(this.registry, {
        providers: () => this.opts.providers ?? {},
        lag: () => this.lag.current,
        uptimeSeconds: () => (this.now() - this.startedAt) / 1000,
        version: this.opts.version ?? 'unknown',
      });
    }
    this.syncCounters(prom, this.registry);
    return this.registry;
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
  private syncCounters(prom: PromClient, registry: Registry): void {
    const counters = this.opts.counters;
    for (const name of counters.names()) {
      if (this.counterMetrics.has(name)) continue;
      const metric = new prom.Counter({
        name: `edgeflux_${name}_total`,
        help: COUNTER_TABLE[name].help,
        labelNames: labelNames(name),
        registers: [registry],
        collect() {
          this.reset();
          for (const e of counters.entries(name)) this.inc(e.labels, e.value);
        },
      });
      this.counterMetrics.set(name, metric);
    }
  }
}
