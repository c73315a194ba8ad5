import type { OperatorFunction } from '../util/rx.js';
import { SERIES_LIMIT_DEFAULTS } from '../config/pipeline-defaults.js';
import type { SeqReading } from './holdback.js';
import type { OperatorContext } from './series.js';
import { softSeriesOperator } from './soft-series.js';

export interface SeriesLimitOptions {
  /** Series allowed at once; readings of a new series beyond it are dropped. */
  readonly max_series: number;
  /** A series with no reading for this long (scheduler time) no longer counts. Default 1 h. */
  readonly idle?: number;
}

export { SERIES_LIMIT_DEFAULTS } from '../config/pipeline-defaults.js';

/**
 * The cardinality guard on its own: passes every reading of a known series unchanged, and
 * the readings of new series while fewer than `max_series` series are active; a reading of
 * a new series beyond that is dropped and reported through `onNotice` (reason
 * `series_limit`, naming the series, e.g. a device that puts a counter in a tag). A series
 * idle for `idle` ms is forgotten, which frees its place. Holds nothing. On complete/error:
 * forwarded at once. On unsubscribe: state and timer are dropped.
 */
export function limitSeries(options: SeriesLimitOptions, context?: OperatorContext): OperatorFunction<SeqReading, SeqReading> {
  if (!(options.max_series >= 1)) throw new RangeError(`series_limit: max_series must be >= 1, got ${options.max_series}`);
  return softSeriesOperator<true>(
    {
      op: 'series_limit',
      idleMs: options.idle ?? SERIES_LIMIT_DEFAULTS.idle,
      maxSeries: options.max_series,
      init: () => true,
      step: (t) => t,
    },
    context,
  );
}
