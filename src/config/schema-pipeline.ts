/**
 * The `pipeline:` list's schema (global, per rule, per device profile): each entry is a
 * mapping with exactly one key naming the operator, e.g.
 *
 *   pipeline:
 *     - deadband: { field: temperature, abs: 0.2, heartbeat: 5m }
 *     - window: { every: 1m, aggregates: [mean, min, max] }
 *
 * Durations become ms; the output (`PipelineConfig`) is the `PipelineStep[]` that pipeline/compose.ts builds
 * operators from. Strict objects, so a misspelt key is reported with its place. Messages
 * never quote the input.
 */
import { z } from 'zod';
import {
  AGGREGATES,
  DEFAULT_MAX_SERIES,
  MAX_OPEN_WINDOWS,
  SERIES_LIMIT_DEFAULTS,
  STEP_KINDS,
  THROTTLE_DEFAULTS,
  WINDOW_DEFAULTS,
} from './pipeline-defaults.js';
import { formatDuration, parseDuration } from './units.js';
import { bool, durationField, int as intField, numeric } from './schema-fields.js';

/** Longest duration a pipeline option takes (a year): windows, heartbeats, idle times. */
const MAX_PIPELINE_MS = 366 * 86_400_000;
const DURATION_EXPECTED = 'expected a duration such as "1m" or "500ms"';

const int = (min: number, max: number) => intField(min, max, numeric);
const amount = () => z.preprocess(numeric, z.number().min(0));
const fieldName = () => z.string().min(1);
const fieldList = (about: string) => z.array(fieldName()).min(1).describe(about);

/** A required duration (no default), in ms. */
function duration(about: string, min = 1) {
  return z
    .union([z.string(), z.number()], { error: (iss) => (iss.input === undefined ? 'required' : DURATION_EXPECTED) })
    .transform((v, ctx) => {
      const r = parseDuration(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
      else if (r.value < min) ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(min)}`, input: v });
      else if (r.value > MAX_PIPELINE_MS) ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(MAX_PIPELINE_MS)}`, input: v });
      return r.ok ? r.value : z.NEVER;
    })
    .describe(`${about} Duration: "500ms", "10s", "5m", "1h" (a unit is required).`);
}

const maxSeries = () =>
  int(1, 10_000_000)
    .optional()
    .describe(`Series this operator keeps state for at most; readings of further series are dropped and counted. Default ${DEFAULT_MAX_SERIES}.`);
const idle = (def: string) => duration(`Forget a series after this long without a reading. Default ${def}.`).optional();

const windowStep = z
  .strictObject({
    every: duration('Windows start every this long, aligned to the epoch grid (a tumbling window also lasts this long).'),
    period: duration('Window length, for hopping windows (at least every). Default: every.').optional(),
    offset: durationField(formatDuration(WINDOW_DEFAULTS.offset), 'Shift of the window grid (less than every), e.g. 2h for days in UTC+2.', 0, MAX_PIPELINE_MS),
    allowed_lateness: durationField(
      formatDuration(WINDOW_DEFAULTS.allowed_lateness),
      "How far behind its series' newest reading a reading may be and still count.",
      0,
      MAX_PIPELINE_MS,
    ),
    aggregates: z
      .array(z.enum(AGGREGATES))
      .min(1)
      .default([...WINDOW_DEFAULTS.aggregates])
      .superRefine((list, ctx) => {
        list.forEach((a, i) => {
          if (list.indexOf(a) !== i) ctx.addIssue({ code: 'custom', message: `"${a}" is listed twice`, path: [i] });
        });
      })
      .describe(`Per field: ${AGGREGATES.join(', ')}. Default [mean].`),
    fields: fieldList('Fields to aggregate. Default: all (a reading with none of these passes through).').optional(),
    naming: z
      .enum(['fields', 'measurement'])
      .default(WINDOW_DEFAULTS.naming)
      .describe('fields: <field>_<agg> in the same measurement; measurement: the same fields into <measurement>_<period>. Default fields.'),
    keep_raw: bool().prefault(WINDOW_DEFAULTS.keep_raw).describe('Also write every raw reading. Default false.'),
    late: z
      .enum(['drop', 'raw'])
      .default(WINDOW_DEFAULTS.late)
      .describe('A reading later than allowed_lateness (counted): drop it, or write it raw. Default drop.'),
    idle: idle('period + allowed_lateness (close the windows of a quiet series)'),
    max_series: maxSeries(),
    max_samples: int(1, 100_000)
      .prefault(WINDOW_DEFAULTS.max_samples)
      .describe(`Values kept per field and window for percentiles. Default ${WINDOW_DEFAULTS.max_samples}.`),
  })
  .superRefine((w, ctx) => {
    const period = w.period ?? w.every;
    if (period < w.every) ctx.addIssue({ code: 'custom', message: `must not be shorter than every (${formatDuration(w.every)})`, path: ['period'] });
    if (w.offset >= w.every) ctx.addIssue({ code: 'custom', message: `must be shorter than every (${formatDuration(w.every)})`, path: ['offset'] });
    if ((period + w.allowed_lateness) / w.every > MAX_OPEN_WINDOWS) {
      ctx.addIssue({
        code: 'custom',
        message: `period + allowed_lateness may span at most ${MAX_OPEN_WINDOWS} windows of every (each series keeps that many open)`,
        path: [w.allowed_lateness > 0 ? 'allowed_lateness' : 'period'],
      });
    }
  })
  .describe('Aggregates over tumbling or hopping windows of event time; points stamped at the window start.');

const deadbandStep = z
  .strictObject({
    field: fieldName().optional().describe('The field watched (or fields).'),
    fields: fieldList('Fields watched. Default: all; others pass unchanged.').optional(),
    abs: amount().optional().describe('Report when the value moved by more than this since it was last written.'),
    pct: amount().optional().describe('Report when the value moved by more than this percentage of the last written value.'),
    heartbeat: duration('Write an unchanged value anyway this long after it was last written.').optional(),
    idle: idle('heartbeat, else 1h'),
    max_series: maxSeries(),
  })
  .superRefine((d, ctx) => {
    if (d.abs === undefined && d.pct === undefined) ctx.addIssue({ code: 'custom', message: 'set abs and/or pct (how much change is reported)', path: [] });
    if (d.field !== undefined && d.fields !== undefined) ctx.addIssue({ code: 'custom', message: 'use field or fields, not both', path: ['fields'] });
  })
  .transform(({ field, fields, ...rest }) => ({ ...rest, fields: fields ?? (field === undefined ? undefined : [field]) }))
  .describe('Report by exception: a field is written when it changed by more than abs or pct, or at the heartbeat.');

const dedupeStep = z
  .strictObject({
    fields: fieldList('Fields compared. Default: all.').optional(),
    heartbeat: duration('Write an identical reading anyway this long after the series was last written.').optional(),
    idle: idle('heartbeat, else 1h'),
    max_series: maxSeries(),
  })
  .describe('Drops a reading whose values equal the previous reading of its series.');

const debounceStep = z
  .strictObject({
    quiet: duration('Write the last reading of a series once it has been quiet this long.'),
    max_series: maxSeries(),
  })
  .describe('Writes only the last reading of a burst.');

const throttleStep = z
  .strictObject({
    interval: duration('At most one point per series per interval (aligned to the epoch grid).'),
    keep: z
      .enum(['last', 'mean'])
      .default(THROTTLE_DEFAULTS.keep)
      .describe('last: the last reading; mean: numeric fields averaged, stamped at the interval start. Default last.'),
    idle: idle('interval'),
    max_series: maxSeries(),
  })
  .describe('At most one point per series per interval.');

const seriesLimitStep = z
  .strictObject({
    max_series: int(1, 10_000_000).describe('Series allowed at once; readings of further new series are dropped, counted and warned about.'),
    idle: durationField(formatDuration(SERIES_LIMIT_DEFAULTS.idle), 'A series without a reading this long frees its place.', 1, MAX_PIPELINE_MS),
  })
  .describe('Cardinality guard: protects InfluxDB from a device that puts a counter in a tag.');

const KINDS = STEP_KINDS.join(', ');

const step = z
  .strictObject(
    {
      window: windowStep.optional(),
      debounce: debounceStep.optional(),
      deadband: deadbandStep.optional(),
      dedupe: dedupeStep.optional(),
      throttle: throttleStep.optional(),
      series_limit: seriesLimitStep.optional(),
    },
    { error: (iss) => (iss.code === 'invalid_type' ? `a pipeline step is a mapping with one key: ${KINDS}` : undefined) },
  )
  .check((payload) => {
    // Only when the step is otherwise valid: an unknown key already says what is wrong.
    if (payload.issues.length > 0) return;
    const keys = STEP_KINDS.filter((k) => payload.value[k] !== undefined);
    const issue = (message: string, path: string[]) => payload.issues.push({ code: 'custom', message, path, input: payload.value });
    if (keys.length === 0) issue(`a pipeline step needs one of: ${KINDS}`, []);
    else if (keys.length > 1) issue(`one operator per step, found ${keys.join(' and ')}: make them separate list entries`, [keys[1] as string]);
  })
  .transform((s) => {
    if (s.window) return { window: s.window };
    if (s.debounce) return { debounce: s.debounce };
    if (s.deadband) return { deadband: s.deadband };
    if (s.dedupe) return { dedupe: s.dedupe };
    if (s.throttle) return { throttle: s.throttle };
    return { series_limit: s.series_limit as NonNullable<typeof s.series_limit> };
  })
  .describe(`One shaping step: ${KINDS}.`);

/** The `pipeline:` list. Mount as `pipeline: pipelineSchema.default([])`. */
export const pipelineSchema = z
  .array(step)
  .describe('Shaping steps applied in order to each reading: window, debounce, deadband, dedupe, throttle, series_limit.');

/** What users write. */
export type PipelineConfigInput = z.input<typeof pipelineSchema>;
/** What the schema produces: the steps pipeline/compose.ts takes (it checks so at compile time). */
export type PipelineConfig = z.output<typeof pipelineSchema>;
