/**
 * Outage and backlog: influxd is stopped, N readings (1,000,000 in a full run) are
 * published at QoS 1 while the output is down, the system is given time to take them all
 * in (until its CPU goes quiet), then influxd comes back and the backlog drains.
 * Reported: peak RSS during the outage, drain rate (points/s from the first point influxd
 * accepted after the restart to the last, by its write statistics; then COUNT confirms all
 * are stored), and anything lost, named.
 */
import { sleep } from './net.js';
import { dirBytes, TreeMeter, treeCpuUs, treeRssKb, treeWriteBytes } from './procstat.js';
import { runStep, type StepEnv } from './steps.js';
import type { SystemDef } from './systems.js';
import { countRun, findMissing } from './verify.js';
import { gcBetween, type GcFigures } from './shaped.js';

export interface OutageResult {
  readonly system: string;
  readonly label: string;
  /** Which outage run of the bench (1-based), when it runs several. */
  readonly rep?: number;
  readonly readings: number;
  readonly publishRate: number;
  /** RSS when influxd went down (MB): the outage's growth is measured from here. */
  readonly startRssMb: number;
  /** Bytes the system wrote to disk during the outage per reading (/proc/PID/io write_bytes). */
  readonly writeBytesPerReading?: number;
  /** Size of the system's directory (its spool) once everything was taken in, bytes. */
  readonly heldDiskBytes?: number;
  /** Peak RSS while influxd was down (MB). */
  readonly outageRssMb: number;
  /** RSS once everything was taken in, before influxd came back (MB). */
  readonly heldRssMb: number;
  /** influxd back (answering /ping) → every reading stored, ms. */
  readonly resumeToAllMs: number | undefined;
  /** Points per second from the first stored point to the last. */
  readonly drainRate: number | undefined;
  /** CPU µs per point of the system and of influxd while they drained (on a 2-core machine they share the cores). */
  readonly drainCpu?: { readonly system: number; readonly influxd: number };
  /** edgeflux's garbage collections while it drained (from its /metrics). */
  readonly drainGc?: GcFigures;
  readonly lost: number;
  readonly missingExamples: readonly string[];
  readonly facts: string;
}

export interface OutageOptions {
  readonly readings: number;
  readonly rate: number;
  /** Node flags for the system's process (e.g. --cpu-prof in bench/probe.ts). */
  readonly nodeFlags?: readonly string[];
}

/** Waits until the tree used < 5 % of a core over 1 s (it has taken everything in), at most `maxMs`. */
async function quiet(pid: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let prev = treeCpuUs(pid);
  while (Date.now() < deadline) {
    await sleep(1000);
    const now = treeCpuUs(pid);
    if (now - prev < 50_000) return;
    prev = now;
  }
}

export async function runOutage(env: StepEnv, def: SystemDef, o: OutageOptions): Promise<OutageResult> {
  env.log(`  outage: ${def.label}, ${o.readings} readings at ${o.rate}/s QoS 1 while influxd is down`);
  const sut = await def.start({ qos: 1, outage: true, ...(o.nodeFlags ? { nodeFlags: o.nodeFlags } : {}) });
  try {
    await runStep(env, def, sut, 1, 2000, 1000); // it works before the outage
    const run = `outage${Date.now() % 1_000_000}`;
    const tsBaseUs = Date.now() * 1000;
    const meter = new TreeMeter(sut.proc.pid);
    const startRssMb = treeRssKb(sut.proc.pid) / 1024;
    const writes0 = treeWriteBytes(sut.proc.pid);
    meter.start();
    await env.influx.pause();
    let heldRssMb = 0;
    let writeBytesPerReading: number | undefined;
    let heldDiskBytes: number | undefined;
    let outageRssMb = 0;
    try {
      const pub = await env.gen.publish({
        system: def.name,
        run,
        devices: env.devices,
        rate: o.rate,
        count: o.readings,
        qos: 1,
        tsBase: tsBaseUs,
        window: 20_000,
      });
      env.log(`    published ${pub.sent} at ${Math.round(pub.achievedRate)}/s; waiting for ${def.name} to take them in`);
      await quiet(sut.proc.pid, 120_000);
      heldRssMb = treeRssKb(sut.proc.pid) / 1024;
      outageRssMb = meter.stop().peakRssMb;
      const writes1 = treeWriteBytes(sut.proc.pid);
      if (writes0 !== undefined && writes1 !== undefined) writeBytesPerReading = (writes1 - writes0) / o.readings;
      if (sut.dir !== undefined) heldDiskBytes = await dirBytes(sut.dir);
    } finally {
      meter.stop();
      await env.influx.resume();
    }
    const upAt = Date.now();
    const deadline = upAt + 600_000;
    // Timed from influxd's own write statistics, polled every 50 ms: a COUNT query every
    // poll would scan the growing data set and slow the drain it times.
    let written = 0;
    let firstAt: number | undefined;
    let firstCount = 0;
    let allAt: number | undefined;
    let lastProgressAt = Date.now();
    let cpuAtFirst: { system: number; influxd: number } | undefined;
    let drainCpu: { system: number; influxd: number } | undefined;
    let gcAtFirst: GcFigures | undefined;
    let drainGc: GcFigures | undefined;
    while (Date.now() < deadline) {
      const n = await env.influx.pointsWritten(def.db).catch(() => written);
      const now = Date.now();
      if (n > written) lastProgressAt = now;
      if (n > 0 && firstAt === undefined) {
        firstAt = now;
        firstCount = n;
        cpuAtFirst = { system: treeCpuUs(sut.proc.pid), influxd: env.influx.proc ? treeCpuUs(env.influx.proc.pid) : 0 };
        gcAtFirst = await sut.probe?.gc().catch(() => undefined);
      }
      written = n;
      if (written >= o.readings) {
        allAt = now;
        const gcNow = gcAtFirst && (await sut.probe?.gc().catch(() => undefined));
        if (gcAtFirst && gcNow) drainGc = gcBetween(gcAtFirst, gcNow);
        if (cpuAtFirst) {
          const pts = Math.max(1, o.readings - firstCount);
          drainCpu = {
            system: (treeCpuUs(sut.proc.pid) - cpuAtFirst.system) / pts,
            influxd: env.influx.proc ? (treeCpuUs(env.influx.proc.pid) - cpuAtFirst.influxd) / pts : 0,
          };
        }
        break;
      }
      if (now - lastProgressAt > 20_000) break; // nothing new for 20 s
      await sleep(50);
    }
    // What is stored is what counts: retried duplicates count twice in the statistics, so
    // until COUNT shows every reading the drain is not over.
    let stored = await countRun(env.influx, def.db, run).catch(() => 0);
    if (stored < o.readings) {
      allAt = undefined;
      lastProgressAt = Date.now();
      while (Date.now() < deadline) {
        await sleep(100);
        const n = await countRun(env.influx, def.db, run).catch(() => stored);
        const now = Date.now();
        if (n > stored) lastProgressAt = now;
        stored = n;
        if (stored >= o.readings) {
          allAt = now;
          break;
        }
        if (now - lastProgressAt > 20_000) break; // nothing new for 20 s: the rest is lost
      }
    }
    let lost = 0;
    let missingExamples: string[] = [];
    if (stored < o.readings) {
      const m = await findMissing(env.influx, def.db, run, o.readings, env.devices, tsBaseUs).catch(() => ({
        missing: o.readings - stored,
        examples: [] as string[],
      }));
      lost = m.missing;
      missingExamples = m.examples;
    }
    const drainRate = allAt !== undefined && firstAt !== undefined && allAt > firstAt ? (o.readings - firstCount) / ((allAt - firstAt) / 1000) : undefined;
    const res: OutageResult = {
      system: def.name,
      label: def.label,
      readings: o.readings,
      publishRate: o.rate,
      startRssMb,
      ...(writeBytesPerReading !== undefined ? { writeBytesPerReading } : {}),
      ...(heldDiskBytes !== undefined ? { heldDiskBytes } : {}),
      outageRssMb,
      heldRssMb,
      resumeToAllMs: allAt === undefined ? undefined : allAt - upAt,
      drainRate,
      ...(drainCpu ? { drainCpu } : {}),
      ...(drainGc ? { drainGc } : {}),
      lost,
      missingExamples,
      facts: await sut.facts(),
    };
    env.log(
      `    ${def.name}: RSS ${startRssMb.toFixed(0)} MB when influxd went down, peak ${outageRssMb.toFixed(0)} MB during the outage, ${heldRssMb.toFixed(0)} MB once all was taken in; ` +
        (writeBytesPerReading !== undefined ? `${writeBytesPerReading.toFixed(1)} B written per reading, ` : '') +
        (heldDiskBytes !== undefined ? `${(heldDiskBytes / 1048576).toFixed(1)} MB on disk (${(heldDiskBytes / o.readings).toFixed(1)} B per reading); ` : '') +
        (allAt
          ? `all stored ${((allAt - upAt) / 1000).toFixed(1)} s after influxd was back, ${Math.round(drainRate ?? 0)} points/s`
          : `only ${stored}/${o.readings} stored`) +
        (drainCpu ? ` (CPU µs per point: ${def.name} ${drainCpu.system.toFixed(2)}, influxd ${drainCpu.influxd.toFixed(2)})` : '') +
        (drainGc
          ? `; GC while draining: ${Object.entries(drainGc)
              .filter(([, g]) => g.count > 0)
              .map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms`)
              .join(', ')}`
          : '') +
        (lost ? `; LOST ${lost}: ${missingExamples.slice(0, 3).join('; ')}` : ''),
    );
    return res;
  } finally {
    await sut.stop();
  }
}
