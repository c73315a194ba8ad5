/**
 * One QoS block: start every system, warm it up, then
 * 1. fixed rates (e.g. 1k, 10k, 20k/s) × repetitions, interleaved (rep 1 of every system
 *    at every rate, then rep 2, …) so that noise from the shared machine spreads evenly;
 * 2. per system, the max sustained rate: climb from the highest fixed rate sustained
 *    (rates × `climbFactor`) until a step is not sustained, then bisect the gap;
 * 3. the max found is repeated until it has `reps` repetitions (median CPU/RSS at the max).
 * A rate counts as sustained when most of its repetitions were. Every loop is bounded.
 */
import { sleep } from './net.js';
import { runStep, type StepEnv, type StepResult } from './steps.js';
import type { Sut, SystemDef, SystemName } from './systems.js';

export interface PlanOptions {
  readonly reps: number;
  readonly stepMs: number;
  readonly fixedRates: readonly number[];
  readonly climbFactor: number;
  readonly maxClimbSteps: number;
  readonly maxBisectSteps: number;
  /** Stop bisecting when the gap is below this fraction of the rate. */
  readonly resolution: number;
  readonly rateCap: number;
  readonly warmupRate: number;
  readonly warmupMs: number;
  /** Repetitions per fixed rate, in `fixedRates`' order (default: `reps` each). */
  readonly fixedReps?: readonly number[];
  /**
   * When set, each system after the first (the reference) does not search for its own max:
   * it is stepped straight to this fraction of the reference's max (rounded up) and, when it
   * sustains that in most of `reps` repetitions, its max is reported as "at least" that rate.
   * Enough to decide a "≥ fraction × reference" target at a third of the steps of a climb.
   */
  readonly stopAtFraction?: number;
}

export interface SystemQosResult {
  readonly system: SystemName;
  readonly label: string;
  readonly qos: 0 | 1;
  readonly steps: StepResult[];
  readonly readyMs: number;
  /** Highest rate sustained (0 when even the lowest was not). */
  maxRate: number;
  /** The search stopped at the target (PlanOptions.stopAtFraction): the true max is at least `maxRate`. */
  maxIsLowerBound?: boolean;
  /** E.g. "3/3 reps", "generator limit", "not reached: broker/generator could go no higher". */
  maxNote: string;
  facts: string;
}

/** Steps of one rate. */
export function atRate(r: SystemQosResult, rate: number): StepResult[] {
  return r.steps.filter((s) => s.rate === rate && !s.generatorLimited);
}

/** Whether most repetitions at `rate` were sustained (undefined: not measured). */
export function sustainedAt(r: SystemQosResult, rate: number): boolean | undefined {
  const s = atRate(r, rate);
  if (s.length === 0) return undefined;
  return s.filter((x) => x.sustained).length * 2 > s.length;
}

function niceRate(r: number, round: (x: number) => number = Math.round): number {
  const step = r >= 20_000 ? 2500 : r >= 5000 ? 1000 : 500;
  return Math.max(step, round(r / step) * step);
}

export async function runQosBlock(env: StepEnv, systems: readonly SystemDef[], qos: 0 | 1, o: PlanOptions): Promise<SystemQosResult[]> {
  const started: { def: SystemDef; sut: Sut; res: SystemQosResult }[] = [];
  try {
    for (const def of systems) {
      env.log(`  starting ${def.label} (QoS ${qos})`);
      let sut: Sut;
      try {
        sut = await def.start({ qos, ...(env.workload ? { workload: env.workload } : {}) });
      } catch (e) {
        if (def.name !== 'nodered') throw e;
        env.log(`    Node-RED did not start, left out of this block: ${String(e).slice(0, 600)}`);
        continue;
      }
      const res: SystemQosResult = { system: def.name, label: def.label, qos, steps: [], readyMs: sut.readyMs, maxRate: 0, maxNote: '', facts: '' };
      started.push({ def, sut, res });
      env.log(`    ready in ${sut.readyMs} ms; warming up at ${o.warmupRate}/s`);
      // Long enough for every device to send once: its series exist (in influxd and edgeflux) before anything is measured.
      const w = await runStep(env, def, sut, qos, o.warmupRate, Math.max(o.warmupMs, Math.ceil((env.devices * 1000) / o.warmupRate)));
      if (w.lost > 0) env.log(`    warning: ${def.name} lost readings during the warm-up`);
    }
    const step = async (x: (typeof started)[number], rate: number): Promise<StepResult> => {
      const r = await runStep(env, x.def, x.sut, qos, rate, o.stepMs);
      x.res.steps.push(r);
      await sleep(300);
      return r;
    };

    env.log(`  fixed rates ${o.fixedRates.join(', ')}/s × ${o.reps} rep(s)`);
    const fixedReps = o.fixedRates.map((_, i) => o.fixedReps?.[i] ?? o.reps);
    for (let rep = 0; rep < Math.max(0, ...fixedReps); rep++) {
      for (const [i, rate] of o.fixedRates.entries()) if (rep < fixedReps[i]!) for (const x of started) await step(x, rate);
    }

    for (const x of started) {
      env.log(`  max sustained rate of ${x.def.label}, QoS ${qos}`);
      let lastPass = 0;
      let firstFail: number | undefined;
      for (const rate of [...o.fixedRates].sort((a, b) => a - b)) {
        const ok = sustainedAt(x.res, rate);
        if (ok === true && firstFail === undefined) lastPass = rate;
        else if (ok === false && firstFail === undefined) firstFail = rate;
      }
      let generatorBound = false;
      const ref = started[0];
      let atTarget: number | undefined;
      if (o.stopAtFraction !== undefined && ref !== undefined && x !== ref && ref.res.maxRate > 0) {
        const target = niceRate(ref.res.maxRate * o.stopAtFraction, Math.ceil);
        if (lastPass >= target) atTarget = target;
        else if (firstFail === undefined || firstFail > target) {
          env.log(`    straight to ${target}/s: ${o.stopAtFraction}× the reference's max`);
          while (atRate(x.res, target).length < o.reps && !generatorBound) generatorBound = (await step(x, target)).generatorLimited;
          if (sustainedAt(x.res, target)) {
            lastPass = target;
            atTarget = target;
          } else if (!generatorBound) firstFail = target;
        }
      }
      for (let i = 0; atTarget === undefined && firstFail === undefined && i < o.maxClimbSteps; i++) {
        const rate = niceRate(Math.max(lastPass, 1000) * o.climbFactor);
        if (rate > o.rateCap) break;
        const r = await step(x, rate);
        if (r.generatorLimited) {
          generatorBound = true;
          break;
        }
        if (r.sustained) lastPass = rate;
        else firstFail = rate;
      }
      for (let i = 0; atTarget === undefined && firstFail !== undefined && i < o.maxBisectSteps; i++) {
        const mid = niceRate((lastPass + firstFail) / 2);
        if (mid <= lastPass || mid >= firstFail || firstFail - lastPass <= Math.max(500, o.resolution * firstFail)) break;
        const r = await step(x, mid);
        if (r.generatorLimited) break;
        if (r.sustained) lastPass = mid;
        else firstFail = mid;
      }
      // Repeat the max until it has `reps` repetitions; step down if most of them fail.
      for (let guard = 0; lastPass > 0 && guard < 3; guard++) {
        while (atRate(x.res, lastPass).length < o.reps) await step(x, lastPass);
        if (sustainedAt(x.res, lastPass)) break;
        const lower = [...new Set(x.res.steps.filter((s) => s.rate < lastPass && s.sustained).map((s) => s.rate))].sort((a, b) => b - a)[0];
        env.log(`    ${lastPass}/s not sustained in most repetitions; stepping down to ${lower ?? 0}/s`);
        lastPass = lower ?? 0;
      }
      const reps = atRate(x.res, lastPass);
      x.res.maxRate = lastPass;
      if (atTarget !== undefined) x.res.maxIsLowerBound = true;
      x.res.maxNote = [
        reps.length > 0 ? `${reps.filter((s) => s.sustained).length}/${reps.length} reps` : 'none sustained',
        atTarget !== undefined ? `at least this: the search stopped once ${o.stopAtFraction}× the reference's max was sustained` : '',
        generatorBound ? 'the load generator (or the broker) could go no faster: the true max may be higher' : '',
        atTarget === undefined && firstFail === undefined && !generatorBound
          ? `no failure found up to ${lastPass}/s (climb stopped): the true max may be higher`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
      env.log(`    → ${lastPass}/s (${x.res.maxNote})`);
    }
  } finally {
    for (const x of started) {
      x.res.facts = await x.sut.facts().catch(() => '');
      await x.sut.stop();
    }
  }
  return started.map((x) => x.res);
}
