/**
 * `node --import tsx bench/probe.ts`: one system at one or more fixed rates, for quick A/B
 * checks while working on the hot path (the full `npm run bench` takes hours). The same
 * parts as the bench (private mosquitto and influxd, the load generator, runStep), no
 * climb, no results file: prints each step and, for edgeflux, its V8 heap figures from
 * /metrics at the end of each step.
 *
 *   node --import tsx bench/probe.ts --system edgeflux --qos 0 --rates 10000,20000 --reps 3
 *   node --import tsx bench/probe.ts --system edgeflux --node-flags=--max-semi-space-size=4
 *   node --import tsx bench/probe.ts --system edgeflux-embedded --qos 1 --connections 1 --window 20000   # straight into the embedded broker
 *   node --import tsx bench/probe.ts --system edgeflux --outage 300000 --reps 1 --node-flags=--cpu-prof
 *   node --import tsx bench/probe.ts --system edgeflux --outage 7200000 --outage-rate 2000 --reps 1 --devices 1000   # 1 h outage at 2k/s
 *   node --import tsx bench/probe.ts --system edgeflux --payload tasmota --devices 1000 --profile   # where the CPU goes (--qos, first rate)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpile } from './lib/build.js';
import { inspectEdgeflux } from './lib/edgeflux.js';
import { LoadGenerator } from './lib/load.js';
import { postCeiling } from './lib/ceilings.js';
import { runOutage } from './lib/outage.js';
import { cleanupAll, installCleanupHandlers } from './lib/procs.js';
import { clockTicks } from './lib/procstat.js';
import { startInfluxd, startMosquitto } from './lib/servers.js';
import { runStep, type StepEnv } from './lib/steps.js';
import { runProfile } from './lib/profile.js';
import { edgefluxDef, makeSystems, SYSTEM_NAMES, type Sut, type SystemName } from './lib/systems.js';
import { gcBetween, type GcFigures } from './lib/shaped.js';
import { PAYLOAD_KINDS, type PayloadKind, type Workload } from './lib/workload.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

async function heapFigures(port: number): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const pick = (name: string): number => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(name + ' ')) ?? '')?.[2] ?? NaN) / 1048576;
    const spaces = text
      .split('\n')
      .filter((l) => l.startsWith('nodejs_heap_space_size_total_bytes{'))
      .map((l) => `${/space="(\w+)"/.exec(l)?.[1]}=${(Number(l.split(' ')[1]) / 1048576).toFixed(1)}`)
      .join(' ');
    return `heap used ${pick('nodejs_heap_size_used_bytes').toFixed(1)} / total ${pick('nodejs_heap_size_total_bytes').toFixed(1)} MB, external ${pick('nodejs_external_memory_bytes').toFixed(1)} MB; spaces: ${spaces}`;
  } catch (e) {
    return `(no /metrics: ${String(e)})`;
  }
}

/** CPU ticks per thread name of `pid` (user, system), from /proc/PID/task/TID/stat. */
function threadTicks(pid: number): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim().replace(/\d+$/, '#');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const prev = out.get(name) ?? [0, 0];
      out.set(name, [prev[0] + Number(f[11]), prev[1] + Number(f[12])]);
    } catch {
      // the thread ended
    }
  }
  return out;
}

function threadDelta(a: Map<string, [number, number]>, b: Map<string, [number, number]>, readings: number): string {
  const us = 1e6 / clockTicks();
  return [...b]
    .map(([k, [u, s]]) => [k, ((u - (a.get(k)?.[0] ?? 0)) * us) / readings, ((s - (a.get(k)?.[1] ?? 0)) * us) / readings] as const)
    .filter(([, u, s]) => u + s > 0.05)
    .map(([k, u, s]) => `${k} ${u.toFixed(1)}u+${s.toFixed(1)}s`)
    .join(', ');
}

/** The daemon's GC counts and times by kind, from /metrics (undefined: not edgeflux). */
async function gcFigures(sut: Sut): Promise<GcFigures | undefined> {
  return sut.probe?.gc().catch(() => undefined);
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      system: { type: 'string', default: 'edgeflux' },
      qos: { type: 'string', default: '0' },
      rates: { type: 'string', default: '10000,20000' },
      reps: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '10' },
      devices: { type: 'string', default: '100' },
      // edgeflux-embedded only: the load generator's connections straight into the embedded broker, and each one's QoS 1 window.
      connections: { type: 'string', default: '1' },
      window: { type: 'string', default: '20000' },
      'node-flags': { type: 'string', default: '' },
      'edgeflux-extra': { type: 'string' },
      outage: { type: 'string' },
      'outage-rate': { type: 'string', default: '20000' },
      payload: { type: 'string', default: 'point' },
      profile: { type: 'boolean', default: false },
    },
  });
  const payload = v.payload as PayloadKind;
  if (!PAYLOAD_KINDS.includes(payload)) throw new Error(`--payload: one of ${PAYLOAD_KINDS.join(', ')}`);
  const system = v.system as SystemName;
  if (!SYSTEM_NAMES.includes(system)) throw new Error(`--system: one of ${SYSTEM_NAMES.join(', ')}`);
  const qos = Number(v.qos) as 0 | 1;
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  installCleanupHandlers(log);
  const { runtime } = await transpile(ROOT);
  const setup = await inspectEdgeflux(runtime, 'durable');
  const extra = v['edgeflux-extra'] ? (parseYaml(await readFile(v['edgeflux-extra'], 'utf8')) as Record<string, unknown>) : undefined;
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  const ctx = { runtime, broker, influx, edgeflux: setup, ...(extra ? { edgefluxExtra: extra } : {}) };
  const embedded = system === 'edgeflux-embedded';
  const [def] = embedded ? [edgefluxDef(ctx, false, 'embedded')] : makeSystems(ctx, [system]);
  if (!def) throw new Error(`--system ${system}: not measured by probe`);
  await influx.createDatabase(def.db);
  const gen = await LoadGenerator.start(runtime, broker.port, 'probe-load');
  const workload: Workload = embedded
    ? { source: 'embedded', payload, devices: Number(v.devices), connections: Number(v.connections), window: Number(v.window) }
    : { source: 'mosquitto', payload, devices: Number(v.devices), connections: 1, window: 20_000 };
  const env: StepEnv = { influx, gen, devices: Number(v.devices), drainLimitMs: 3000, log, workload };
  if (v.profile) {
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    const p = await runProfile(
      env,
      def,
      ROOT,
      join(ROOT, 'bench', '.work', 'profiles'),
      `${stamp}-${payload}`,
      Number(v.rates.split(',')[0]),
      Number(v.seconds) * 1000,
      qos,
    );
    log(`profile ${p.file}, ${p.busyMs} ms busy`);
    log(
      `  areas: ${p.areas
        .slice(0, 12)
        .map((a) => `${a.area} ${a.selfPct.toFixed(1)}%`)
        .join(', ')}`,
    );
    for (const h of p.top) log(`  ${h.selfPct.toFixed(1).padStart(5)}%  ${h.name}  ${h.where}`);
    await gen.stop();
    await cleanupAll();
    return;
  }
  const nodeFlags = v['node-flags'] ? v['node-flags'].split(' ').filter(Boolean) : [];
  if (v.outage) {
    for (let r = 0; r < Number(v.reps); r++) {
      const c = await postCeiling(runtime, influx, 'probe_ceiling', Math.min(Number(v.outage), 1_000_000), 1, env.devices);
      const o = await runOutage(env, def, { readings: Number(v.outage), rate: Number(v['outage-rate']), nodeFlags });
      log(
        `    POST ceiling (1 in flight) ${Math.round(c.rate)} points/s; drain ${Math.round(o.drainRate ?? 0)} = ${((o.drainRate ?? 0) / c.rate).toFixed(2)}× the ceiling`,
      );
    }
    await gen.stop();
    await cleanupAll();
    return;
  }
  const sut = await def.start({ qos, nodeFlags, workload });
  log(`${def.label}: ready in ${sut.readyMs} ms ${nodeFlags.join(' ')}`);
  const httpPort = (sut.probe as unknown as { port?: number } | undefined)?.port;
  if (httpPort) log(`      idle: ${await heapFigures(httpPort)}`);
  const idle0 = threadTicks(sut.proc.pid);
  await new Promise((r) => setTimeout(r, 10_000));
  log(`      idle for 10 s, ms of CPU per second by thread: ${threadDelta(idle0, threadTicks(sut.proc.pid), 10_000)}`);
  await runStep(env, def, sut, qos, 5000, 3000);
  for (let r = 0; r < Number(v.reps); r++) {
    for (const rate of v.rates.split(',').map(Number)) {
      const t0 = threadTicks(sut.proc.pid);
      const gc0 = await gcFigures(sut);
      const step = await runStep(env, def, sut, qos, rate, Number(v.seconds) * 1000);
      log(`      µs per reading by thread: ${threadDelta(t0, threadTicks(sut.proc.pid), step.sent)}`);
      const gc1 = await gcFigures(sut);
      if (gc0 && gc1)
        log(
          `      GC in the step: ${Object.entries(gcBetween(gc0, gc1))
            .filter(([, g]) => g.count > 0)
            .map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms`)
            .join(', ')}`,
        );
      if (httpPort) log(`      ${await heapFigures(httpPort)}`);
    }
  }
  await sut.stop();
  await gen.stop();
  await cleanupAll();
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    process.stderr.write(`probe: ${e instanceof Error ? e.stack : String(e)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
