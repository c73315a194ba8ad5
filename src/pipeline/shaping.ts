/**
 * One output's shaping stage from the config: the global `pipeline:` after the steps of
 * what decoded the reading (its device binding's `pipeline:`, from the device entry or its
 * profile, or else its rule's `pipeline:`), on a StreamClock that the output's drain moves
 * (stream-clock.ts), with the notices (late readings, refused series) counted and warned
 * about. Routes are numbered like decoding goes: a message that a device profile decodes
 * takes its binding's route even when a rule matches its topic too.
 *
 * One stage per output, because a stage's state (open windows, the holdback) describes
 * what that output has written: each output drains the journal from its own cursor.
 * edgeflux's own figures (sources/self-source.ts) are never shaped: their records bypass the stage.
 */
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import { isSelfMessage, type RawMessage } from '../types.js';
import { createPipeline, type PipelineStep, type ShapingPipeline } from './compose.js';
import type { Notice } from './series.js';
import { ReplayState } from './replay-state.js';
import { StreamClock } from './stream-clock.js';
import type { TrackedReading } from './tracked.js';

/** What a drain takes (DrainOptions `pipeline`, `clock`, `route`). */
export interface OutputShaping {
  readonly pipeline: ShapingPipeline;
  readonly clock: StreamClock;
  readonly route: (rec: Pick<RawMessage, 'sourceId' | 'topic'>) => number | 'bypass' | undefined;
}

/** What shaping needs of the device profiles in use (DeviceDecoders). */
export interface DeviceRouting {
  /** Each binding's steps, by binding index. */
  readonly pipelines: readonly (readonly PipelineStep[])[];
  /** The binding that decodes a message, or undefined (the rules decode it). */
  bindingFor(msg: Pick<RawMessage, 'sourceId' | 'topic'>): number | undefined;
}

export interface ShapingOptions {
  /** The global steps (config `pipeline`). */
  readonly steps: readonly PipelineStep[];
  /** The rules, in order, each with its own steps (config `rules[i].pipeline`). */
  readonly rules: readonly { readonly pipeline: readonly PipelineStep[] }[];
  /** Index of the rule that decodes a topic, or -1 (RuleSet.ruleFor). */
  readonly ruleFor: (topic: string) => number;
  /** The device bindings, checked before the rules like in decoding; absent: none. */
  readonly devices?: DeviceRouting | undefined;
  readonly onNotice: (n: Notice) => void;
}

/** The stage, or undefined when no step is configured anywhere (readings go straight to the batches). */
export function createShaping(o: ShapingOptions): OutputShaping | undefined {
  // Routes: the rules' chains, then the device bindings' (index rules.length + binding).
  const routes = [...o.rules.map((r) => r.pipeline), ...(o.devices?.pipelines ?? [])];
  const routed = routes.some((r) => r.length > 0);
  if (!routed && o.steps.length === 0) return undefined;
  // Time starts at the first record's arrival (the drain advances it before feeding), so
  // that a replay after a restart runs on the records' own times, not on the restart's.
  const clock = new StreamClock();
  const routing = routed ? { routes, select: (t: TrackedReading) => t.route } : undefined;
  const pipeline = createPipeline(o.steps, { scheduler: clock, onNotice: o.onNotice, replay: new ReplayState() }, routing);
  const first = o.rules.length;
  const devices = o.devices;
  const routeOf = (rec: Pick<RawMessage, 'sourceId' | 'topic'>): number => {
    const b = devices?.bindingFor(rec);
    return b === undefined ? o.ruleFor(rec.topic) : first + b;
  };
  return {
    pipeline,
    clock,
    route: (rec) => (isSelfMessage(rec) ? 'bypass' : routed ? routeOf(rec) : undefined),
  };
}

/**
 * Counts every notice as `pipeline_rejected{output,op,reason,outcome}` and warns, at most
 * once per operator and reason every `everyMs` (a device putting a counter in a tag makes
 * a new series per reading), naming the series and how many were suppressed. `logger`
 * names the output already (a child logger with `output`).
 */
export function noticeReporter(output: string, counters: Counters, logger: Logger, everyMs = 10_000): (n: Notice) => void {
  const limiter = new RateLimiter(everyMs);
  return (n) => {
    counters.inc('pipeline_rejected', { output, op: n.op, reason: n.reason, outcome: n.outcome });
    const suppressed = limiter.take(`${n.op}\0${n.reason}`);
    if (suppressed < 0) return;
    if (n.reason === 'memory_limit') {
      logger.warn(
        { op: n.op, reason: n.reason, outcome: n.outcome, series: n.series, suppressed },
        `output ${output}: ${n.op}: more gone series than max_series to remember: ${n.series} forgotten early (if it comes back with readings for windows already written, they may overwrite those points)`,
      );
      return;
    }
    const what =
      n.reason === 'late'
        ? 'a reading later than allowed_lateness'
        : n.reason === 'series_limit'
          ? 'a new series beyond max_series'
          : 'a field beyond the fields a window keeps per series';
    logger.warn(
      { op: n.op, reason: n.reason, outcome: n.outcome, series: n.series, suppressed },
      `output ${output}: ${n.op}: ${what} (${n.series}), ${n.outcome === 'raw' ? 'written raw' : 'dropped'}`,
    );
  };
}
