/**
 * One step: publish `rate` readings/s for `durationMs` to one system, then follow it until
 * every reading is stored. The step is *sustained* when nothing is missing and the
 * backlog drained within `drainLimitMs` of the last publish; CPU µs per reading and peak
 * RSS are measured on the system's process tree from the first publish to the moment the
 * last reading was stored. A step that did not drain in time is still followed to the end
 * (bounded), so that the next step starts clean and real loss is told from lateness, and
 * any missing reading is named. A shaped system (shaped.ts) writes window points instead
 * of readings: it is followed until it has caught up (allowed the windows' close delay on
 * top of the limit), then its points must account for every reading.
 */
import { loadavg } from 'node:os';
import type { LoadGenerator } from './load.js';
import { sleep } from './net.js';
import { TreeMeter } from './procstat.js';
import type { Influxd } from './servers.js';
import { CLOSE_DELAY_MS, accountFor, countsBefore, waitCaughtUp, type ProbeCounts } from './shaped.js';
import type { Sut, SystemDef } from './systems.js';
import { countRun, findMissing } from './verify.js';
import { DEFAULT_WORKLOAD, endStep, nextStep, PAYLOADS, type PayloadSpec, type StepKey, type Workload } from './workload.js';

export interface StepResult {
  readonly system: string;
  readonly qos: 0 | 1;
  readonly rate: number;
  readonly run: string;
  readonly sent: number;
  readonly achievedRate: number;
  readonly maxLagMs: number;
  /** The generator could not keep the schedule: the step says nothing about the system. */
  readonly generatorLimited: boolean;
  /** Embedded-broker cells: the longest a message waited for a PUBACK to free its connection's window (ms). */
  readonly maxHeldMs?: number;
  /** The publishers were held so long by unacknowledged messages that the step was cut short (not sustained). */
  readonly abandoned?: boolean;
  /** Stored in time (within the drain limit). */
  readonly sustained: boolean;
  /** From the last publish (write) to the last reading stored (undefined: never all). */
  readonly drainMs: number | undefined;
  /** Readings never stored (after the bounded follow-up wait). */
  readonly lost: number;
  readonly missingExamples: readonly string[];
  readonly cpuUsPerReading: number;
  readonly peakRssMb: number;
  /** The machine's 1-minute load average at the end of the step (how shared it was). */
  readonly load1: number;
}

export interface StepEnv {
  readonly influx: Influxd;
  readonly gen: LoadGenerator;
  readonly devices: number;
  /** What is sent and how (default: the `point` payload through mosquitto over one connection, `devices` devices). */
  readonly workload?: Workload;
  readonly drainLimitMs: number;
  readonly log: (s: string) => void;
}

let counter = 0;

/** A message held longer than this by its connection's window means the broker is not keeping up with the rate. */
const HELD_LIMIT_MS = 1000;

export async function runStep(env: StepEnv, system: SystemDef, sut: Sut, qos: 0 | 1, rate: number, durationMs: number): Promise<StepResult> {
  const w = env.workload ?? { ...DEFAULT_WORKLOAD, devices: env.devices };
  const spec = PAYLOADS[w.payload];
  const run = `q${qos}n${++counter}r${rate}`;
  const planned = Math.max(1, Math.round((rate * durationMs) / 1000));
  const key = nextStep(system.db, w.payload, run);
  const tsBase = key.base;
  const pooled = sut.publishPort !== undefined && !sut.feed;
  if (pooled) await env.gen.openPool(sut.publishPort!, w.connections, `bench-${system.name}`);
  const before = system.shaped ? await countsBefore(sut) : undefined;
  const meter = new TreeMeter(sut.proc.pid, sut.meterAlso);
  meter.start();
  let measured: { cpuUs: number; peakRssMb: number } | undefined;
  try {
    const pub = sut.feed
      ? await sut.feed({ run, devices: w.devices, rate, count: planned, tsBase })
      : await env.gen.publish({
          system: system.name,
          run,
          payload: w.payload,
          devices: w.devices,
          rate,
          count: planned,
          qos,
          tsBase,
          window: w.window,
          ...(pooled ? { pool: true, giveUpHeldMs: Math.max(3000, durationMs) } : {}),
        });
    // What was written is what must be stored (a step cut short by a slow broker wrote less).
    const count = pub.sent;
    // The generator could not keep the schedule (it, or the broker taking its messages, ran short of CPU).
    // With a connection pool, a late step is the broker's doing when messages were held by full windows.
    const held = (pub.maxHeldMs ?? 0) > HELD_LIMIT_MS || pub.abandoned;
    const generatorLimited = !held && (pooled ? pub.maxLagMs > 1000 : pub.achievedRate < rate * 0.95 || pub.maxLagMs > 1000);
    // Followed until everything is in (bounded); the CPU measurement ends there.
    const maxMs = Math.max(90_000, durationMs * 4);
    const raw = before ? undefined : await waitStored(env.influx, system, sut, key, count, pub.lastPublishAt, maxMs, spec);
    const drainMs = before ? await waitCaughtUp(sut, before, count, pub.lastPublishAt, maxMs) : raw?.drainMs;
    measured = meter.stop();
    const checked = before
      ? await checkShaped(env, system, run, count, sut, before)
      : await checkStored(env, system, key, count, tsBase, raw?.stored ?? 0, w.devices, spec, pub.abandoned);
    endStep(system.db, w.payload, key, count, w.devices);
    const limitMs = env.drainLimitMs + (before ? CLOSE_DELAY_MS : 0);
    const sustained = !generatorLimited && !held && drainMs !== undefined && drainMs <= limitMs && checked.stored === count && checked.lost === 0;
    const { lost, missingExamples, stored } = checked;
    const result: StepResult = {
      system: system.name,
      qos,
      rate,
      run,
      sent: pub.sent,
      achievedRate: pub.achievedRate,
      maxLagMs: pub.maxLagMs,
      generatorLimited,
      ...(pooled ? { maxHeldMs: pub.maxHeldMs, abandoned: pub.abandoned } : {}),
      sustained,
      drainMs,
      lost,
      missingExamples,
      cpuUsPerReading: measured.cpuUs / Math.max(1, stored),
      peakRssMb: measured.peakRssMb,
      load1: loadavg()[0] ?? 0,
    };
    env.log(describe(result));
    return result;
  } finally {
    if (!measured) meter.stop();
  }
}

interface Checked {
  /** Readings stored (raw) or accounted for by the window points (shaped). */
  readonly stored: number;
  readonly lost: number;
  readonly missingExamples: string[];
}

/** Polls influxd until the run's `count` readings are stored; ms from the last publish to then (undefined: never, within `maxMs` or 15 s without progress). */
export async function waitStored(
  influx: Influxd,
  system: SystemDef,
  sut: Sut,
  run: StepKey,
  count: number,
  lastPublishAt: number,
  maxMs: number,
  spec: PayloadSpec,
): Promise<{ stored: number; drainMs: number | undefined }> {
  let stored = 0;
  const hardDeadline = Date.now() + maxMs;
  let lastProgressAt = Date.now();
  while (Date.now() < hardDeadline) {
    const n = await countRun(influx, system.db, run, spec).catch(() => stored);
    if (n > stored) lastProgressAt = Date.now();
    stored = n;
    if (stored >= count) return { stored, drainMs: Date.now() - lastPublishAt };
    if (Date.now() - lastProgressAt > 15_000) break; // nothing new for 15 s: what is missing is lost
    if (sut.proc.hasExited()) break;
    await sleep(200);
  }
  return { stored, drainMs: undefined };
}

/** Names the readings a raw run is missing (none when all were stored). */
async function checkStored(
  env: StepEnv,
  system: SystemDef,
  run: StepKey,
  count: number,
  tsBase: number,
  stored: number,
  devices: number,
  spec: PayloadSpec,
  abandoned: boolean,
): Promise<Checked> {
  if (stored >= count) return { stored, lost: 0, missingExamples: [] };
  // A step cut short wrote readings with gaps in `seq` (held ones were never sent): counted, not named.
  if (abandoned) return { stored, lost: count - stored, missingExamples: [`${count - stored} of the ${count} readings written (step cut short: not named)`] };
  const m = await findMissing(env.influx, system.db, run, count, devices, tsBase, 8, spec).catch((e: unknown) => ({
    missing: count - stored,
    examples: [`(could not list: ${String(e)})`],
  }));
  return { stored, lost: m.missing, missingExamples: m.examples };
}

/** Sums a shaped run's window points per device: each must hold exactly its readings. */
async function checkShaped(env: StepEnv, system: SystemDef, run: string, count: number, sut: Sut, before: ProbeCounts): Promise<Checked> {
  const after = await sut.probe?.counts().catch(() => undefined);
  const rejected = after ? after.rejected - before.rejected : 0;
  const a = await accountFor(env.influx, system.db, run, count, env.devices, rejected).catch((e: unknown) => ({
    readings: 0,
    missing: count,
    examples: [`(could not sum the window points: ${String(e)})`],
  }));
  return { stored: a.readings, lost: a.missing, missingExamples: a.examples };
}

export function describe(r: StepResult): string {
  const verdict = r.generatorLimited ? 'GENERATOR-LIMITED' : r.sustained ? 'ok' : r.lost > 0 ? `LOST ${r.lost}` : r.abandoned ? 'CUT SHORT' : 'too slow';
  const held = r.maxHeldMs !== undefined ? `, longest wait for a window ${r.maxHeldMs.toFixed(0)} ms` : '';
  const drain = r.drainMs === undefined ? 'never drained' : `drained ${(r.drainMs / 1000).toFixed(1)} s after`;
  const lost = r.missingExamples.length > 0 ? `\n      missing: ${r.missingExamples.join('; ')}` : '';
  return (
    `    ${r.system.padEnd(15)} QoS ${r.qos} ${String(r.rate).padStart(6)}/s: ${verdict.padEnd(8)} ` +
    `sent ${r.sent} at ${Math.round(r.achievedRate)}/s, ${drain}, ${r.cpuUsPerReading.toFixed(1)} µs/reading, peak RSS ${r.peakRssMb.toFixed(0)} MB${held}${lost}`
  );
}
