/**
 * What the daemon tells the metrics at scrape time: figures of outputs, sources, the
 * queue, the spool, devices and the clock. metrics.ts and metrics-gauges.ts both read
 * these; they live apart so that neither imports the other's module in a circle.
 */
export interface OutputFigures {
  readonly id: string;
  readonly up: boolean;
  /** Messages waiting for this output: journal records behind its cursor (or points in memory). */
  readonly backlog: number;
  /** Journal records between its cursor and the oldest record an open window (or the read position) needs: what a restart replays beyond that. */
  readonly replayLag?: number;
}
export interface SourceFigures {
  readonly id: string;
  readonly up: boolean;
}
export interface DeviceFigures {
  readonly device: string;
  readonly lastSeenMs: number;
  readonly stale: boolean;
  readonly readings: number;
}

/** Live figures the daemon owns, read at scrape/snapshot time (all optional, all cheap). */
export interface MetricsProviders {
  outputs?(): readonly OutputFigures[];
  sources?(): readonly SourceFigures[];
  /** Points waiting between decode and the outputs. */
  queueDepth?(): number | undefined;
  spool?(): { readonly bytes: number; readonly maxBytes?: number } | undefined;
  devices?(): readonly DeviceFigures[];
  clockSynchronized?(): boolean | undefined;
}
