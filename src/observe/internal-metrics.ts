/**
 * edgeflux's own figures as points in InfluxDB, like Telegraf's `internal` input: every
 * interval, one `edgeflux_internal` point per kind of thing (tag `kind`):
 * - `kind=agent`: uptime_s, rss_bytes, heap_used_bytes, event_loop_lag_{mean,p99,max}_ms,
 *   queue_points, spool_bytes, spool_max_bytes, devices, devices_stale, readings_dropped,
 *   dead_letter_records, clock_synchronized;
 * - `kind=source,source=<id>`: messages_received, messages_decoded, messages_failed, up;
 * - `kind=output,output=<id>`: points_written, write_requests, write_retries,
 *   points_dropped, messages_dropped, backlog_messages, up, write_latency_mean_ms and
 *   write_latency_p95_ms (over the interval; absent when no request was made).
 * Counts are cumulative integers (graph them with non_negative_derivative, as Telegraf's);
 * a field's type never changes (counts integer, figures float, states boolean). Fields
 * whose figure is unknown (no journal, no clock check) are left out, never written as 0.
 * INTERNAL_FIELDS lists them all (the dashboards' test checks its queries against it).
 *
 * While the daemon is idle (no message but its own since the last report, every output
 * up) the points are written every `idleIntervalMs` instead (config default 60 s): they are all
 * an idle daemon writes to its SD card, and at every 10 s they cost ~100 B/s of journal.
 */
import { hostname } from 'node:os';
import type { FieldValue, Reading } from '../types.js';
import type { Logger } from './logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import { sumEntries } from './counters.js';
import { WRITE_LATENCY_BUCKETS, type Figures, type LatencyFigures } from './metrics.js';

export const INTERNAL_MEASUREMENT = 'edgeflux_internal';

export const INTERNAL_FIELDS = {
  agent: [
    'uptime_s',
    'rss_bytes',
    'heap_used_bytes',
    'event_loop_lag_mean_ms',
    'event_loop_lag_p99_ms',
    'event_loop_lag_max_ms',
    'queue_points',
    'spool_bytes',
    'spool_max_bytes',
    'devices',
    'devices_stale',
    'readings_dropped',
    'dead_letter_records',
    'clock_synchronized',
  ],
  source: ['messages_received', 'messages_decoded', 'messages_failed', 'up'],
  output: [
    'points_written',
    'write_requests',
    'write_retries',
    'points_dropped',
    'messages_dropped',
    'backlog_messages',
    'up',
    'write_latency_mean_ms',
    'write_latency_p95_ms',
  ],
} as const;

export type InternalKind = keyof typeof INTERNAL_FIELDS;

const int = (n: number) => BigInt(Math.max(0, Math.round(n)));
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/**
 * The points for one instant. `prev` (the figures of the previous interval) gives the
 * latency over the interval; without it, latency since start.
 */
export function internalReadings(now: Figures, prev: Figures | undefined, tags: Readonly<Record<string, string>>, timeNs: bigint): Reading[] {
  const out: Reading[] = [];
  const point = (kind: InternalKind, extra: Record<string, string>, fields: Record<string, FieldValue>) =>
    out.push({ measurement: INTERNAL_MEASUREMENT, tags: { ...tags, kind, ...extra }, fields, time: timeNs });

  const agent: Record<string, FieldValue> = {
    uptime_s: round3(now.uptimeSeconds),
    rss_bytes: int(now.memory.rssBytes),
    heap_used_bytes: int(now.memory.heapUsedBytes),
    event_loop_lag_mean_ms: now.eventLoop.meanMs,
    event_loop_lag_p99_ms: now.eventLoop.p99Ms,
    event_loop_lag_max_ms: now.eventLoop.maxMs,
    devices: int(now.devices.total),
    devices_stale: int(now.devices.stale),
    readings_dropped: int(sumEntries(now.counters, 'readings_dropped')),
    dead_letter_records: int(sumEntries(now.counters, 'dead_letter_records')),
  };
  if (now.queueDepth !== undefined) agent.queue_points = int(now.queueDepth);
  if (now.spool) agent.spool_bytes = int(now.spool.bytes);
  if (now.spool?.maxBytes !== undefined) agent.spool_max_bytes = int(now.spool.maxBytes);
  if (now.clockSynchronized !== undefined) agent.clock_synchronized = now.clockSynchronized;
  point('agent', {}, agent);

  const sourceIds = new Set([...now.sources.map((s) => s.id), ...labelValues(now, ['messages_received', 'messages_decoded', 'messages_failed'], 'source')]);
  for (const id of [...sourceIds].sort()) {
    const fields: Record<string, FieldValue> = {
      messages_received: int(sumEntries(now.counters, 'messages_received', { source: id })),
      messages_decoded: int(sumEntries(now.counters, 'messages_decoded', { source: id })),
      messages_failed: int(sumEntries(now.counters, 'messages_failed', { source: id })),
    };
    const s = now.sources.find((x) => x.id === id);
    if (s) fields.up = s.up;
    point('source', { source: id }, fields);
  }

  const outputIds = new Set([
    ...now.outputs.map((o) => o.id),
    ...labelValues(now, ['points_written', 'write_requests', 'points_dropped', 'messages_dropped'], 'output'),
  ]);
  for (const id of [...outputIds].sort()) {
    const fields: Record<string, FieldValue> = {
      points_written: int(sumEntries(now.counters, 'points_written', { output: id })),
      write_requests: int(sumEntries(now.counters, 'write_requests', { output: id })),
      write_retries: int(sumEntries(now.counters, 'write_retries', { output: id })),
      points_dropped: int(sumEntries(now.counters, 'points_dropped', { output: id })),
      messages_dropped: int(sumEntries(now.counters, 'messages_dropped', { output: id })),
    };
    const o = now.outputs.find((x) => x.id === id);
    if (o) Object.assign(fields, { backlog_messages: int(o.backlog), up: o.up });
    const lat = latencyDelta(now.writeLatency.get(id), prev?.writeLatency.get(id));
    if (lat) Object.assign(fields, { write_latency_mean_ms: round3(lat.mean * 1000), write_latency_p95_ms: round3(lat.p95 * 1000) });
    point('output', { output: id }, fields);
  }
  return out;
}

function labelValues(f: Figures, names: readonly string[], label: string): string[] {
  return f.counters.filter((e) => names.includes(e.name) && e.labels[label] !== undefined).map((e) => e.labels[label] as string);
}

/** Mean and estimated 95th percentile (linear within the bucket) of the requests since `prev`. */
export function latencyDelta(now: LatencyFigures | undefined, prev: LatencyFigures | undefined): { mean: number; p95: number } | undefined {
  if (!now) return undefined;
  const count = now.count - (prev?.count ?? 0);
  if (count <= 0) return undefined;
  const mean = (now.sumSeconds - (prev?.sumSeconds ?? 0)) / count;
  const rank = 0.95 * count;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < WRITE_LATENCY_BUCKETS.length; i++) {
    const upper = WRITE_LATENCY_BUCKETS[i] as number;
    const cumulative = (now.buckets[i] as number) - (prev?.buckets[i] ?? 0); // requests <= upper
    if (cumulative >= rank) {
      const within = cumulative - below;
      return { mean, p95: within > 0 ? lower + ((upper - lower) * (rank - below)) / within : upper };
    }
    lower = upper;
    below = cumulative;
  }
  return { mean, p95: lower }; // beyond the last bucket: its bound is all we know
}

export interface InternalMetricsOptions {
  readonly figures: () => Figures;
  /** Receives each interval's points (the daemon routes them like decoded readings). */
  readonly sink: (readings: Reading[]) => void;
  readonly intervalMs: number;
  /** Tags on every point; `host` defaults to the hostname. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Point time in ns. Default: wall clock. */
  readonly timeNs?: () => bigint;
  /** Where a failing `figures` or `sink` is reported (rate-limited to one line a minute). */
  readonly logger?: Logger;
  /** How often while idle (see the module comment); default (or not above intervalMs): every interval. */
  readonly idleIntervalMs?: number;
  /** The source id of edgeflux's own messages (not counted as activity). */
  readonly selfSourceId?: string;
  readonly now?: () => number;
}

/** Emits `internalReadings()` every interval, on a timer that `stop()` frees. */
export class InternalMetricsReporter {
  private timer: ReturnType<typeof setInterval> | undefined;
  private prev: Figures | undefined;
  private readonly errors = new RateLimiter(60_000);
  private received = -1;
  private lastEmitAt: number | undefined;

  constructor(private readonly opts: InternalMetricsOptions) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.prev = this.opts.figures();
    this.timer = setInterval(() => this.report(), this.opts.intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Emits one set of points now (also what the timer does). */
  report(): void {
    try {
      const now = this.opts.figures();
      if (this.idleSkip(now)) return;
      const tags = { host: hostname(), ...this.opts.tags };
      const timeNs = this.opts.timeNs?.() ?? BigInt(Date.now()) * 1_000_000n;
      const readings = internalReadings(now, this.prev, tags, timeNs);
      this.prev = now;
      this.lastEmitAt = (this.opts.now ?? Date.now)();
      this.opts.sink(readings);
    } catch (err) {
      if (this.errors.take('report') >= 0) this.opts.logger?.error({ err }, 'internal metrics: report failed');
    }
  }

  /** Whether this interval's points wait for the idle interval: nothing came in but our own, every output up. */
  private idleSkip(now: Figures): boolean {
    const all = sumEntries(now.counters, 'messages_received');
    const own = this.opts.selfSourceId === undefined ? 0 : sumEntries(now.counters, 'messages_received', { source: this.opts.selfSourceId });
    const received = all - own;
    const idle = received === this.received && now.outputs.every((o) => o.up);
    this.received = received;
    if (!idle || this.lastEmitAt === undefined) return false;
    const idleMs = this.opts.idleIntervalMs ?? 0;
    // Half an interval of slack: timer jitter must not push a report a whole interval later.
    return (this.opts.now ?? Date.now)() - this.lastEmitAt < idleMs - this.opts.intervalMs / 2;
  }
}
