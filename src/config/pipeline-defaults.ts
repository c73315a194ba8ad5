/**
 * The names and defaults of the shaping steps, as the config schema (schema-pipeline.ts)
 * states them to users and the operators in pipeline/ apply them. They live with the
 * settings so that config/ never imports pipeline/: the operators import them from here.
 */

/** The operators a `pipeline:` step may name. */
export const STEP_KINDS = ['window', 'debounce', 'deadband', 'dedupe', 'throttle', 'series_limit'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** The aggregates a `window` (and `throttle` with `keep: mean`) computes per field. */
export const AGGREGATES = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev', 'p50', 'p90', 'p95', 'p99'] as const;
export type AggregateName = (typeof AGGREGATES)[number];

export const WINDOW_DEFAULTS = {
  offset: 0,
  allowed_lateness: 0,
  aggregates: ['mean'] as readonly AggregateName[],
  naming: 'fields',
  keep_raw: false,
  late: 'drop',
  max_samples: 1000,
} as const;

/** Open windows per series at most (period + lateness over every): bounds the state. */
export const MAX_OPEN_WINDOWS = 1000;

/** Default cap on the series one operator keeps state for. */
export const DEFAULT_MAX_SERIES = 10_000;

export const THROTTLE_DEFAULTS = { keep: 'last' } as const;

export const SERIES_LIMIT_DEFAULTS = { idle: 3_600_000 } as const;
