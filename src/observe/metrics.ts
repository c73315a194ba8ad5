/**
 * edgeflux's own figures as Prometheus metrics (prom-client, on a registry of its own,
 * never the global default one) and as one plain snapshot (`figures()`) that the
 * internal points (internal-metrics.ts) and STATUS= (status-line.ts) read.
 *
 * Design: `Counters` stays the single store of event counts. Its `inc()` is a Map update
 * on the hot path and its synchronous `get()` drives logic (output.ts), which prom-client
 * (async `get()`, fixed label names per metric) cannot replace without breaking that API.
 * So counters are read at scrape time: every counter name becomes
 * `edgeflux_<name>_total` (a few renamed, see COUNTERS) with the labels it was counted with;
 * a name first counted later appears at the next scrape. Gauges (queue depth, spool bytes,
 * pending points, device last-seen…) are read from `MetricsProviders` the daemon implements,
 * and the write-latency histogram is fed by `instrumentWriter()` (sink/instrument-writer.ts) around each output's writer.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Counters } from './counters.js';
import { counterEntries, type CounterEntry } from './counter-entries.js';
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

/** Counters whose Prometheus name is not simply `edgeflux_<name>_total`, and their help. */
const COUNTERS: Readonly<Record<string, readonly [string, string]>> = {
  messages_received: ['messages_received', 'Messages received, by source.'],
  messages_decoded: ['messages_decoded', 'Messages decoded into readings, by source.'],
  messages_failed: ['messages_failed', 'Messages that could not be decoded, by source and reason.'],
  messages_ignored: ['messages_ignored', 'Messages on a topic of the ignore: list (not readings), by source.'],
  readings_dropped: ['readings_dropped', 'Readings dropped before the outputs, by reason.'],
  points_written: ['points_written', 'Points InfluxDB accepted, by output.'],
  write_requests: ['write_requests', 'Write requests sent, by output.'],
  write_retries: ['write_retries', 'Write requests retried or split, by output and kind.'],
  write_probes: ['write_probes', 'Pings (no data) sent to a down output to notice its return, by output.'],
  source_failures: ['source_failures', 'Times a source failed and was restarted, by source.'],
  dropped_points: ['points_dropped', 'Points given up, by output and reason.'],
  dropped_messages: ['messages_dropped', 'Messages given up, by output and reason (journal quota; shutdown in memory mode).'],
  journal_append_errors: ['journal_append_errors', 'Journal appends that failed (the message was held, not acknowledged).'],
  dead_letter_records: ['dead_letter_records', 'Records appended to the dead-letter file, by reason.'],
  dead_letter_dropped: ['dead_letter_dropped', 'Dead-letter records not kept, by cause.'],
  broker_refused: ['broker_refused', 'Connections or packets the embedded broker refused, by reason.'],
  source_paused: ['source_paused', 'Times a source stopped reading until its connection took the acks it held (the broker was not reading them), by source.'],
};

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Latency {
  count: number;
  sumSeconds: number;
  buckets: number[];
}

export class Metrics {
  readonly registry = new Registry();
  private readonly counterMetrics = new Map<string, { metric: Counter<string>; labels: ReadonlySet<string> }>();
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
      counters: counterEntries(this.opts.counters),
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

  private syncCounters(): void {
    const byName = new Map<string, CounterEntry[]>();
    for (const e of counterEntries(this.opts.counters)) {
      const list = byName.get(e.name);
      if (list) list.push(e);
      else byName.set(e.name, [e]);
    }
    for (const [name, entries] of byName) {
      const keys = new Set(entries.flatMap((e) => Object.keys(e.labels)).filter((k) => LABEL.test(k)));
      let m = this.counterMetrics.get(name);
      if (!m || [...keys].some((k) => !m!.labels.has(k))) {
        const [base, help] = COUNTERS[name] ?? [name.replace(/[^a-zA-Z0-9_]/g, '_'), `edgeflux counter "${name}".`];
        const promName = `edgeflux_${base}_total`;
        if (m) for (const k of m.labels) keys.add(k);
        this.registry.removeSingleMetric(promName);
        m = { metric: new Counter({ name: promName, help, labelNames: [...keys], registers: [this.registry] }), labels: keys };
        this.counterMetrics.set(name, m);
      }
      m.metric.reset();
      for (const e of entries) {
        const labels: Record<string, string> = {};
        for (const k in e.labels) if (m.labels.has(k)) labels[k] = e.labels[k] as string;
        m.metric.inc(labels, e.value);
      }
    }
  }
}
