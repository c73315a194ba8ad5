import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../src/config/schema-pipeline.js';
import { composeSteps, createPipeline, routeSteps, stepOperator, type PipelineStep } from '../../src/pipeline/compose.js';
import type { SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';
import type { PointPipeline } from '../../src/pipeline/tracked.js';
import { point, rd, testScheduler } from '../helpers/pipeline.js';

const MIN = 60_000;

describe('compose', () => {
  it('an empty list passes readings through', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const a = rd({ t: 0, f: { v: 1 } });
      expectObservable(cold('a|', { a }).pipe(composeSteps([]))).toBe('a|', { a });
    });
  });

  it('chains the steps in list order: deadband, then a window over what deadband let through', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const steps: PipelineStep[] = [{ deadband: { fields: ['temperature'], abs: 0.2 } }, { window: { every: MIN, aggregates: ['count', 'mean'] } }];
      const v = {
        a: rd({ t: 0, f: { temperature: 20 }, seq: 1 }),
        b: rd({ t: 10_000, f: { temperature: 20.1 }, seq: 2 }), // suppressed by deadband
        c: rd({ t: 20_000, f: { temperature: 21 }, seq: 3 }),
        d: rd({ t: 61_000, f: { temperature: 21 }, seq: 4 }), // suppressed, but…
        e: rd({ t: 62_000, f: { temperature: 25 }, seq: 5 }), // …this one closes [0, 60 s)
      };
      expectObservable(cold('abcde|', v).pipe(composeSteps(steps))).toBe('----x(y|)', {
        x: point(0, { temperature_count: 2n, temperature_mean: 20.5 }, 1),
        y: point(MIN, { temperature_count: 1n, temperature_mean: 25 }, 5),
      });
    });
  });

  it('builds from validated config and shares one holdback and one notice callback', () => {
    const parsed = pipelineSchema.parse([{ series_limit: { max_series: 1 } }, { debounce: { quiet: '1s' } }, { throttle: { interval: '1m', keep: 'mean' } }]);
    const notices: Notice[] = [];
    const clock = new StreamClock(0);
    const pipeline = createPipeline(parsed, { scheduler: clock, onNotice: (n) => notices.push(n) });
    const out: SeqReading[] = [];
    const input = new Subject<SeqReading>();
    const sub = input.pipe(pipeline.operator).subscribe((t) => out.push(t));
    input.next(rd({ t: 0, f: { v: 1 }, seq: 1 }));
    input.next(rd({ t: 0, f: { v: 1 }, seq: 2, tags: { device: 'intruder' } }));
    expect(notices.map((n) => `${n.op} ${n.series}`)).toEqual(['series_limit climate,device=intruder']);
    expect(pipeline.lowestHeld()).toBe(1); // debounce holds it
    clock.advanceTo(1000); // debounce lets it go, throttle takes it
    expect(pipeline.lowestHeld()).toBe(1);
    expect(pipeline.commitBound(3)).toBe(1);
    clock.advanceTo(MIN + 1000); // throttle's idle: its mean goes out
    expect(out).toEqual([point(0, { v: 1 }, 1)]);
    expect(pipeline.lowestHeld()).toBeUndefined();
    expect(pipeline.commitBound(3)).toBe(3);
    sub.unsubscribe();
    expect(clock.pending).toBe(0);
  });

  it('routes readings to per-rule chains (then a global one) and merges their output', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      type Routed = SeqReading & { readonly route?: number };
      const routes: PipelineStep[][] = [[{ window: { every: MIN, aggregates: ['max'] } }], [], [{ dedupe: {} }]];
      const a: Routed = { ...rd({ t: 0, f: { v: 1 }, seq: 1 }), route: 0 };
      const b: Routed = { ...rd({ t: 1, f: { v: 2 }, seq: 2, m: 'door' }), route: 1 };
      const c: Routed = { ...rd({ t: 2, f: { v: 3 }, seq: 3, m: 'plug' }), route: 2 };
      const d: Routed = { ...rd({ t: 3, f: { v: 3 }, seq: 4, m: 'plug' }), route: 2 };
      const e: Routed = { ...rd({ t: 4, f: { v: 9 }, seq: 5, m: 'other' }) }; // no route
      const src = cold<Routed>('abcde|', { a, b, c, d, e });
      const op = routeSteps(routes, (t: Routed) => t.route);
      expectObservable(src.pipe(op)).toBe('-bc-e(x|)', { b, c, e, x: point(0, { v_max: 1 }, 1) });
      expectObservable(cold<Routed>('a#', { a }).pipe(op)).toBe('-(x#)', { x: point(0, { v_max: 1 }, 1) });
      const long = cold<Routed>('a 100ms |', { a });
      expectObservable(long.pipe(op), '^ 5ms !').toBe('');
      expectSubscriptions(long.subscriptions).toBe('^ 5ms !');
    });
  });

  it('createPipeline: routed chains, then the global steps, one holdback for all', () => {
    type Routed = SeqReading & { readonly route?: number };
    const clock = new StreamClock(0);
    const p = createPipeline(
      [{ window: { every: MIN, aggregates: ['count'] } }],
      { scheduler: clock },
      { routes: [[{ debounce: { quiet: 100 } }]], select: (t: Routed) => t.route },
    );
    const out: SeqReading[] = [];
    const input = new Subject<Routed>();
    input.pipe(p.operator).subscribe((t) => out.push(t));
    input.next({ ...rd({ t: 0, f: { v: 1 }, seq: 1 }), route: 0 }); // held by the route's debounce
    input.next(rd({ t: 0, f: { v: 1 }, seq: 2, m: 'plain' })); // straight to the window
    expect(p.lowestHeld()).toBe(1);
    clock.advanceTo(100); // debounce lets seq 1 go into its window
    input.complete();
    expect(out).toEqual([point(0, { v_count: 1n }, 2, 'plain'), point(0, { v_count: 1n }, 1)]);
    expect(p.commitBound(3)).toBe(1); // partial windows flushed on complete keep their holds
  });

  it('is a PointPipeline for the drain (tracked.ts)', () => {
    const p: PointPipeline = createPipeline([{ dedupe: {} }]);
    expect(p.lowestHeld()).toBeUndefined();
  });

  it('refuses a step with no or several operators', () => {
    expect(() => stepOperator({} as PipelineStep)).toThrow(/exactly one/);
    expect(() => stepOperator({ dedupe: {}, debounce: { quiet: 1 } } as unknown as PipelineStep)).toThrow(/exactly one/);
  });
});
