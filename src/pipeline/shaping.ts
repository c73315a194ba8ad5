/**
 * One output's shaping stage from the config: the global `pipeline:` after each rule's
 * own `pipeline:`, on a StreamClock that the output's drain moves (stream-clock.ts), with
 * the notices (late readings, refused series) counted and warned about.
 *
 * One stage per output, because a stage's state (open windows, the holdback) describes
 * what that output has written: each output drains the journal from its own cursor.
 * edgeflux's own figures (self-source.ts) are never shaped: their records bypass the stage.
 */
import type { JournalRecord } from '../journal/journal.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../observe/rate-limit.js';
import { isSelfMessage } from '../observe/self-source.js';
import { createPipeline, type PipelineStep, type ShapingPipeline } from './compose.js';
import type { Notice } from './series.js';
import { StreamClock } from './stream-clock.js';
import type { TrackedReading } from './tracked.js';

/** What a drain takes (DrainOptions `pipeline`, `clock`, `route`). */
export interface OutputShaping {
  readonly pipeline: ShapingPipeline;
  readonly clock: StreamClock;
  readonly route: (rec: JournalRecord) => number | 'bypass' | undefined;
}

export interface ShapingOptions {
  /** The global steps (config `pipeline`). */
  readonly steps: readonly PipelineStep[];
  /** The rules, in order, each with its own steps (config `rules[i].pipeline`). */
  readonly rules: readonly { readonly pipeline: readonly PipelineStep[] }[];
  /** Index of the rule that decodes a topic, or -1 (RuleSet.ruleFor). */
  readonly ruleFor: (topic: string) => number;
  readonly onNotice: (n: Notice) => void;
}

/** The stage, or undefined when no step is configured anywhere (readings go straight to the batches). */
export function createShaping(o: ShapingOptions): OutputShaping | undefined {
  const routed = o.rules.some((r) => r.pipeline.length > 0);
  if (!routed && o.steps.length === 0) return undefined;
  // Time starts at the first record's arrival (the drain advances it before feeding), so
  // that a replay after a restart runs on the records' own times, not on the restart's.
  const clock = new StreamClock();
  const routing = routed ? { routes: o.rules.map((r) => r.pipeline), select: (t: TrackedReading) => t.route } : undefined;
  const pipeline = createPipeline(o.steps, { scheduler: clock, onNotice: o.onNotice }, routing);
  return {
    pipeline,
    clock,
    route: (rec) => (isSelfMessage(rec) ? 'bypass' : routed ? o.ruleFor(rec.topic) : undefined),
  };
}

/**
 * Counts every notice as `pipeline_rejected{output,op,reason,outcome}` and warns, at most
 * once per operator and reason every `everyMs` (a device putting a counter in a tag makes
 * a new series per reading), naming the series and how many were suppressed.
 */
export function noticeReporter(output: string, counters: Counters, logger: Logger, everyMs = 10_000): (n: Notice) => void {
  const limiter = new RateLimiter(everyMs);
  return (n) => {
    counters.inc('pipeline_rejected', { output, op: n.op, reason: n.reason, outcome: n.outcome });
    const suppressed = limiter.take(`${n.op}\0${n.reason}`);
    if (suppressed < 0) return;
    const what =
      n.reason === 'late' ? 'a reading later than allowed_lateness' : n.reason === 'series_limit' ? 'a new series beyond max_series' : 'a field beyond the fields a window keeps per series';
    logger.warn(
      { output, op: n.op, reason: n.reason, outcome: n.outcome, series: n.series, suppressed },
      `output ${output}: ${n.op}: ${what} (${n.series}), ${n.outcome === 'raw' ? 'written raw' : 'dropped'}`,
    );
  };
}
