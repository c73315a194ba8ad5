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
import { topicPrefix } from './readings.js';
import type { Influxd } from './servers.js';
import { CLOSE_DELAY_MS, accountFor, countsBefore, waitCaughtUp, type ProbeCounts } from './shaped.js';
import type { Sut, SystemDef } from './systems.js';
import { countRun, findMissing } from './verify.js';

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
  readonly drainLimitMs: number;
  readonly log: (s: string) => void;
}

let counter = 0;

export async function runStep(env: StepEnv, system: SystemDef, sut: Sut, qos: 0 | 1, rate: number, durationMs: number): Promise<StepResult> {
  const run = `q${qos}n${++counter}r${rate}`;
  const count = Math.max(1, Math.round((rate * durationMs) / 1000));
  const tsBaseUs = Date.now() * 1000;
  const before = system.shaped ? await countsBefore(sut) : undefined;
  const meter = new TreeMeter(sut.proc.pid);
  meter.start();
  let measured: { cpuUs: number; peakRssMb: number } | undefined;
  try {
    const pub = await env.gen.publish({ prefix: topicPrefix(system.name, run), devices: env.devices, rate, count, qos, tsBaseUs, window: 20_000 });
    // The generator could not keep the schedule (it, or the broker taking its messages, ran short of CPU).
    const generatorLimited = pub.achievedRate < rate * 0.95 || pub.maxLagMs > 1000;
    // Followed until everything is in (bounded); the CPU measurement ends there.
    const maxMs = Math.max(90_000, durationMs * 4);
    const raw = before ? undefined : await waitStored(env.influx, system, sut, run, count, pub.lastPublishAt, maxMs);
    const drainMs = before ? await waitCaughtUp(sut, before, count, pub.lastPublishAt, maxMs) : raw?.drainMs;
    measured = meter.stop();
    const checked = before ? await checkShaped(env, system, run, count, sut, before) : await checkStored(env, system, run, count, tsBaseUs, raw?.stored ?? 0);
    const limitMs = env.drainLimitMs + (before ? CLOSE_DELAY_MS : 0);
    const sustained = !generatorLimited && drainMs !== undefined && drainMs <= limitMs && checked.stored === count && checked.lost === 0;
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
async function waitStored(influx: Influxd, system: SystemDef, sut: Sut, run: string, count: number, lastPublishAt: number, maxMs: number): Promise<{ stored: number; drainMs: number | undefined }> {
  let stored = 0;
  const hardDeadline = Date.now() + maxMs;
  let lastProgressAt = Date.now();
  while (Date.now() < hardDeadline) {
    const n = await countRun(influx, system.db, run).catch(() => stored);
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
async function checkStored(env: StepEnv, system: SystemDef, run: string, count: number, tsBaseUs: number, stored: number): Promise<Checked> {
  if (stored >= count) return { stored, lost: 0, missingExamples: [] };
  const m = await findMissing(env.influx, system.db, run, count, env.devices, tsBaseUs).catch((e: unknown) => ({ missing: count - stored, examples: [`(could not list: ${String(e)})`] }));
  return { stored, lost: m.missing, missingExamples: m.examples };
}

/** Sums a shaped run's window points per device: each must hold exactly its readings. */
async function checkShaped(env: StepEnv, system: SystemDef, run: string, count: number, sut: Sut, before: ProbeCounts): Promise<Checked> {
  const after = await sut.probe?.counts().catch(() => undefined);
  const rejected = after ? after.rejected - before.rejected : 0;
  const a = await accountFor(env.influx, system.db, run, count, env.devices, rejected).catch((e: unknown) => ({ readings: 0, missing: count, examples: [`(could not sum the window points: ${String(e)})`] }));
  return { stored: a.readings, lost: a.missing, missingExamples: a.examples };
}

export function describe(r: StepResult): string {
  const verdict = r.generatorLimited ? 'GENERATOR-LIMITED' : r.sustained ? 'ok' : r.lost > 0 ? `LOST ${r.lost}` : 'too slow';
  const drain = r.drainMs === undefined ? 'never drained' : `drained ${(r.drainMs / 1000).toFixed(1)} s after`;
  const lost = r.missingExamples.length > 0 ? `\n      missing: ${r.missingExamples.join('; ')}` : '';
  return (
    `    ${r.system.padEnd(15)} QoS ${r.qos} ${String(r.rate).padStart(6)}/s: ${verdict.padEnd(8)} ` +
    `sent ${r.sent} at ${Math.round(r.achievedRate)}/s, ${drain}, ${r.cpuUsPerReading.toFixed(1)} µs/reading, peak RSS ${r.peakRssMb.toFixed(0)} MB${lost}`
  );
}
