/**
 * The gauges (and per-device counter) of metrics.ts whose values come from the daemon's
 * providers at scrape time: outputs, sources, queue, spool, devices, clock, event loop,
 * memory. Each `collect()` resets its metric first, so vanished label sets disappear.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LoopLag } from './event-loop-lag.js';
import type { MetricsProviders } from './metrics-providers.js';

export interface GaugeSources {
  readonly providers: () => MetricsProviders;
  readonly lag: () => LoopLag;
  readonly uptimeSeconds: () => number;
  readonly version: string;
}

export function registerGauges(registry: Registry, src: GaugeSources): void {
  const registers = [registry];
  const p = src.providers;
  const gauge = (name: string, help: string, labelNames: string[], fill: (set: (labels: Record<string, string>, v: number) => void) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels, v));
      },
    });
  gauge('edgeflux_up', 'Always 1 while edgeflux runs; labels carry the version.', ['version'], (set) => set({ version: src.version }, 1));
  gauge('edgeflux_uptime_seconds', 'Seconds since the metrics started.', [], (set) => set({}, src.uptimeSeconds()));
  gauge('edgeflux_output_up', "1 when the output's last request succeeded (or none failed yet).", ['output'], (set) => {
    for (const o of p().outputs?.() ?? []) set({ output: o.id }, o.up ? 1 : 0);
  });
  gauge('edgeflux_output_backlog_messages', 'Messages waiting to be written, by output (journal records behind its cursor).', ['output'], (set) => {
    for (const o of p().outputs?.() ?? []) set({ output: o.id }, o.backlog);
  });
  gauge(
    'edgeflux_output_replay_lag_messages',
    "Journal records between an output's cursor and the oldest record an open window (or its read position) needs: what a restart replays beyond that (unwritten points).",
    ['output'],
    (set) => {
      for (const o of p().outputs?.() ?? []) if (o.replayLag !== undefined) set({ output: o.id }, o.replayLag);
    },
  );
  gauge('edgeflux_source_up', '1 when the source is connected.', ['source'], (set) => {
    for (const s of p().sources?.() ?? []) set({ source: s.id }, s.up ? 1 : 0);
  });
  gauge('edgeflux_queue_depth', 'Points waiting between decode and the outputs.', [], (set) => {
    const q = p().queueDepth?.();
    if (q !== undefined) set({}, q);
  });
  gauge('edgeflux_spool_bytes', 'Bytes in the on-disk journal.', [], (set) => {
    const s = p().spool?.();
    if (s) set({}, s.bytes);
  });
  gauge('edgeflux_spool_max_bytes', 'The journal quota (spool.max_bytes).', [], (set) => {
    const s = p().spool?.();
    if (s?.maxBytes !== undefined) set({}, s.maxBytes);
  });
  gauge('edgeflux_device_last_seen_timestamp_seconds', 'When each device last sent a reading (Unix time).', ['device'], (set) => {
    for (const d of p().devices?.() ?? []) set({ device: d.device }, d.lastSeenMs / 1000);
  });
  gauge('edgeflux_device_stale', '1 while a device is silent for longer than its expected interval.', ['device'], (set) => {
    for (const d of p().devices?.() ?? []) set({ device: d.device }, d.stale ? 1 : 0);
  });
  new Counter({
    name: 'edgeflux_device_readings_total',
    help: 'Readings received per device since it was first seen (restarts when a device is forgotten).',
    labelNames: ['device'],
    registers,
    collect() {
      this.reset();
      for (const d of p().devices?.() ?? []) this.inc({ device: d.device }, d.readings);
    },
  });
  gauge('edgeflux_clock_synchronized', '1 when the system clock is known to be synchronised, 0 when known not to be.', [], (set) => {
    const c = p().clockSynchronized?.();
    if (c !== undefined) set({}, c ? 1 : 0);
  });
  const lag = (stat: keyof LoopLag) => (set: (l: Record<string, string>, v: number) => void) => set({}, src.lag()[stat] / 1000);
  gauge('edgeflux_event_loop_lag_p99_seconds', 'Event-loop lag, 99th percentile over the last window.', [], lag('p99Ms'));
  gauge('edgeflux_event_loop_lag_max_seconds', 'Event-loop lag, maximum over the last window.', [], lag('maxMs'));
  gauge('edgeflux_event_loop_lag_mean_seconds', 'Event-loop lag, mean over the last window.', [], lag('meanMs'));
  gauge('edgeflux_resident_memory_bytes', 'Resident set size.', [], (set) => set({}, process.memoryUsage.rss()));
  gauge('edgeflux_heap_used_bytes', 'V8 heap in use.', [], (set) => set({}, process.memoryUsage().heapUsed));
}
