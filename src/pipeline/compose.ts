/**
 * The shaping stage from config: a `pipeline:` list of steps (already validated by
 * schema-pipeline.ts, durations in ms) becomes one operator chain, in list order, sharing
 * one scheduler, one holdback and one notice callback.
 *
 * `createPipeline()` returns a `ShapingPipeline`, which is a tracked.ts `PointPipeline`
 * (`operator` + `lowestHeld()`) plus `commitBound()`: the drain must commit
 * `commitBound(candidate)`, not just the minimum with `lowestHeld()` (see holdback.ts for
 * why aggregates need it). One pipeline per output and per subscription: its holdback
 * describes the state of that one subscription; build a new pipeline to subscribe again.
 */
import { identity, Observable, Subject, type OperatorFunction, type Subscription } from '../util/rx.js';
import { STEP_KINDS } from '../config/pipeline-defaults.js';
import type { PipelineConfig } from '../config/schema-pipeline.js';
import { debounceSeries, type DebounceOptions } from './debounce.js';
import { deadband, type DeadbandOptions } from './deadband.js';
import { dedupe, type DedupeOptions } from './dedupe.js';
import { Holdback, type SeqReading } from './holdback.js';
import { limitSeries, type SeriesLimitOptions } from './series-limit.js';
import type { OperatorContext } from './series.js';
import { throttleSeries, type ThrottleOptions } from './throttle.js';
import { aggregateWindows, type WindowOptions } from './window.js';

/** One entry of a `pipeline:` list: exactly one key naming the operator. */
export type PipelineStep =
  | { readonly window: WindowOptions }
  | { readonly debounce: DebounceOptions }
  | { readonly deadband: DeadbandOptions }
  | { readonly dedupe: DedupeOptions }
  | { readonly throttle: ThrottleOptions }
  | { readonly series_limit: SeriesLimitOptions };

export { STEP_KINDS, type StepKind } from '../config/pipeline-defaults.js';

type AssertAssignable<T extends U, U> = T;
// Compile-time check: fails when the config schema's output drifts from the operators' options.
export type _PipelineMatchesSteps = AssertAssignable<PipelineConfig, readonly PipelineStep[]>;

export interface ShapingPipeline {
  readonly operator: OperatorFunction<SeqReading, SeqReading>;
  readonly holdback: Holdback;
  /** The lowest seq held in operator state, or undefined. */
  lowestHeld(): number | undefined;
  /** The highest cursor <= `candidate` that no held reading and no aggregate forbids; commit that. */
  commitBound(candidate: number): number;
  /** With a ReplayState in the context: what a restart needs (tracked.ts `PointPipeline`). */
  restore?(state: string, cursor: number): boolean;
  feeding?(seq: number): void;
  committed?(cursor: number): void;
  snapshot?(): string;
}

/** The operator for one step. */
export function stepOperator(step: PipelineStep, ctx: OperatorContext = {}): OperatorFunction<SeqReading, SeqReading> {
  const keys = Object.keys(step);
  if (keys.length !== 1) throw new TypeError(`pipeline step must have exactly one of ${STEP_KINDS.join(', ')}; got ${keys.join(', ') || 'none'}`);
  if ('window' in step) return aggregateWindows(step.window, ctx);
  if ('debounce' in step) return debounceSeries(step.debounce, ctx);
  if ('deadband' in step) return deadband(step.deadband, ctx);
  if ('dedupe' in step) return dedupe(step.dedupe, ctx);
  if ('throttle' in step) return throttleSeries(step.throttle, ctx);
  if ('series_limit' in step) return limitSeries(step.series_limit, ctx);
  throw new TypeError(`unknown pipeline step ${keys[0]}`);
}

/** The steps chained in order (an empty list passes readings through). */
export function composeSteps(steps: readonly PipelineStep[], ctx: OperatorContext = {}): OperatorFunction<SeqReading, SeqReading> {
  if (steps.length === 0) return identity;
  const ops = steps.map((s, i) => stepOperator(s, { ...ctx, place: `${ctx.place ?? ''}/${i}` }));
  return (source) => ops.reduce((acc, op) => op(acc), source);
}

/**
 * Per-route chains (e.g. one per rule): `select` names the route of each reading (an index
 * into `routes`; any other value, or an empty route, passes the reading through), each
 * route runs its own chain, and their outputs merge in emission order. All routes share
 * `ctx` (one holdback). On complete/error every route is completed first (flushing like
 * its operators do), then the complete/error is forwarded. On unsubscribe every route is
 * torn down.
 */
export function routeSteps(
  routes: readonly (readonly PipelineStep[])[],
  select: (t: SeqReading) => number | undefined,
  ctx: OperatorContext = {},
): OperatorFunction<SeqReading, SeqReading> {
  const chains = routes.map((steps, i) => (steps.length === 0 ? undefined : composeSteps(steps, { ...ctx, place: `route ${i}` })));
  if (chains.every((c) => c === undefined)) return identity;
  return (source) =>
    new Observable<SeqReading>((out) => {
      const subs: Subscription[] = [];
      const inputs = chains.map((chain) => {
        if (chain === undefined) return undefined;
        const input = new Subject<SeqReading>();
        subs.push(input.pipe(chain).subscribe({ next: (t) => out.next(t), error: (e: unknown) => out.error(e) }));
        return input;
      });
      const closeRoutes = () => {
        for (const input of inputs) input?.complete();
      };
      subs.push(
        source.subscribe({
          next(t) {
            const i = select(t);
            const input = i === undefined ? undefined : inputs[i];
            if (input === undefined) out.next(t);
            else input.next(t);
          },
          error(e) {
            closeRoutes();
            out.error(e);
          },
          complete() {
            closeRoutes();
            out.complete();
          },
        }),
      );
      return () => {
        for (const sub of subs) sub.unsubscribe();
      };
    });
}

/** Per-rule (or per-profile) chains ahead of the global one; see `routeSteps`. */
export interface Routing {
  readonly routes: readonly (readonly PipelineStep[])[];
  readonly select: (t: SeqReading) => number | undefined;
}

/**
 * A drain's whole shaping stage with its own holdback (or the one given in `ctx`): the
 * routed chains (if any), then `steps`, all sharing one scheduler, holdback and notices.
 * With `ctx.replay`, the stage also has `restore`/`committed`/`snapshot` (replay-state.ts):
 * the drain saves the snapshot with every cursor it commits and restores it on start.
 */
export function createPipeline(steps: readonly PipelineStep[], ctx: OperatorContext = {}, routing?: Routing): ShapingPipeline {
  const holdback = ctx.holdback ?? new Holdback();
  const shared = { ...ctx, holdback };
  const global = composeSteps(steps, { ...shared, place: 'global' });
  const routed = routing ? routeSteps(routing.routes, routing.select, shared) : undefined;
  const operator: OperatorFunction<SeqReading, SeqReading> = routed ? (source) => global(routed(source)) : global;
  const pipeline: ShapingPipeline = {
    operator,
    holdback,
    lowestHeld: () => holdback.lowestHeld(),
    commitBound: (candidate) => holdback.commitBound(candidate),
  };
  const replay = ctx.replay;
  if (replay === undefined) return pipeline;
  return {
    ...pipeline,
    // The highest checkpoint of the ledgers that no hold and no aggregate forbids.
    commitBound: (candidate) => {
      let c = candidate;
      for (;;) {
        const next = holdback.peekBound(replay.bound(c));
        if (next === c) return holdback.commitBound(c);
        c = next;
      }
    },
    restore: (state, cursor) => replay.restore(state, cursor),
    feeding: (seq) => replay.feeding(seq),
    committed: (cursor) => replay.committed(cursor),
    snapshot: () => replay.snapshot(),
  };
}
