/**
 * `npm run bench`: edgeflux end to end (raw, and with a window + deadband pipeline) against
 * a bare baseline (and, with --node-red, Node-RED), on a private mosquitto and influxd on free loopback ports. See USAGE in
 * lib/options.ts and the method in bench/README.md. Appends a dated section to
 * bench/RESULTS.md and writes charts to bench/results/.
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { transpile, tsxRuntime, type Runtime } from './lib/build.js';
import { brokerCeiling, postCeiling, type BrokerCeiling, type PostCeiling } from './lib/ceilings.js';
import { inspectEdgeflux, unitNodeFlags } from './lib/edgeflux.js';
import { LoadGenerator } from './lib/load.js';
import { loadAverage, machineInfo, versions } from './lib/machine.js';
import { ensureNodeRed } from './lib/node-red.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { runOutage, type OutageResult } from './lib/outage.js';
import { cellTargets, fullMatrix, quickMatrix, runCell, SERIAL_RATE, runLatency, selectCells, type CellResult, type LatencyResult } from './lib/matrix.js';
import { runQosBlock, type SystemQosResult } from './lib/plan.js';
import { cleanupAll, installCleanupHandlers, interruptedBy } from './lib/procs.js';
import { runProfile, type ProfileResult } from './lib/profile.js';
import { renderSection } from './lib/report.js';
import { evaluateTargets, median, type BenchResults } from './lib/results.js';
import { installMissingServers, missingPrerequisites, startInfluxd, startMosquitto } from './lib/servers.js';
import { CLOSE_DELAY_MS, SHAPED_PIPELINE, WINDOW_IDLE } from './lib/shaped.js';
import type { StepEnv } from './lib/steps.js';
import { cpuChart, matrixChart } from './lib/svg.js';
import { edgefluxDef, makeSystems, SERIAL_PORTS, type SystemsContext } from './lib/systems.js';
import { describeWorkload, type Workload } from './lib/workload.js';
import {
  EDGE_DEFAULTS,
  edgeOutage,
  edgeRun,
  edgeTargets,
  renderEdgeOutageSection,
  renderEdgeSection,
  type EdgeOptions,
  type EdgeOutageOptions,
  type EdgeRun,
} from './lib/edge.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const t0 = Date.now();
const log = (s: string): void => {
  const sec = Math.round((Date.now() - t0) / 1000);
  process.stdout.write(`[${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}] ${s}\n`);
};

async function main(o: BenchOptions): Promise<number> {
  installMissingServers(log);
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`bench: missing prerequisites:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 2;
  }
  installCleanupHandlers((s) => process.stderr.write(`${s}\n`));
  const startedAt = new Date();
  const loadStart = loadAverage();
  const notes: string[] = [];

  // Which code runs is fixed here (transpiled now, or tsx's view of the files now): stamp it
  // now, not at the end, when the work tree may have moved on.
  const codeVersion = versions(ROOT);
  let runtime: Runtime;
  if (o.tsx) {
    runtime = tsxRuntime(ROOT);
    notes.push('children ran through tsx (--tsx): its loader is included in start-up times');
  } else {
    const b = await transpile(ROOT);
    runtime = b.runtime;
    log(`transpiled ${b.files} files of src/ and bench/ to bench/.work/js in ${b.ms} ms`);
  }

  let nodeRed: { red: string } | undefined;
  const extraVersions: string[] = [];
  if (o.nodeRed) {
    try {
      const nr = await ensureNodeRed(join(ROOT, 'bench', '.work', 'node-red'), log);
      nodeRed = { red: nr.red };
      extraVersions.push(`Node-RED ${nr.version}`, `node-red-contrib-influxdb ${nr.influxNode}`);
    } catch (e) {
      log(`Node-RED is left out: ${String(e).slice(0, 800)}`);
      notes.push(`Node-RED was requested but could not be installed: ${String(e).split('\n')[0]}`);
    }
  }

  const setup = await inspectEdgeflux(runtime, o.spool);
  log(`edgeflux: ${setup.note}`);
  const extra = o.edgefluxExtra ? (parseYaml(await readFile(o.edgefluxExtra, 'utf8')) as Record<string, unknown>) : undefined;

  log('starting mosquitto and influxd on free loopback ports');
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  // The systems outside the matrix: the outage (baseline, edgeflux, Node-RED) and edgeflux-shaped.
  const systems = makeSystems(
    { runtime, broker, influx, edgeflux: setup, ...(extra ? { edgefluxExtra: extra } : {}), ...(nodeRed ? { nodeRed } : {}) },
    o.only,
    o.shaped,
  );
  for (const s of systems) await influx.createDatabase(s.db);
  const gen = await LoadGenerator.start(runtime, broker.port, 'bench-load');
  const env: StepEnv = { influx, gen, devices: o.devices, drainLimitMs: o.drainLimitMs, log };

  const brokerCeilings: BrokerCeiling[] = [];
  const postCeilings: PostCeiling[] = [];
  if (o.ceilings) {
    log('ceilings');
    for (const qos of o.qos) {
      const c = await brokerCeiling(runtime, broker, qos, o.brokerCeilingCount[qos], o.devices);
      brokerCeilings.push(c);
      log(
        `  mosquitto → counting subscriber, QoS ${qos}: ${Math.round(c.rate)} msg/s (${c.received}/${c.published}; publisher ${Math.round(c.publishRate)}/s)`,
      );
    }
    for (const conc of o.postConcurrency) {
      const p = await postCeiling(runtime, influx, 'bench_ceiling', o.postCeilingPoints, conc, o.devices);
      postCeilings.push(p);
      log(`  batched POSTs into influxd, ${conc} in flight: ${Math.round(p.rate)} points/s`);
    }
  }

  // The workload matrix: every cell against its reference, the targets per cell.
  const cells = selectCells(o.quick && !o.cells ? quickMatrix() : fullMatrix(), o.cells);
  const ctx: SystemsContext = { runtime, broker, influx, edgeflux: setup, ...(extra ? { edgefluxExtra: extra } : {}) };
  const cellResults: CellResult[] = [];
  log(`workload matrix: ${cells.length} cells (${cells.map((c) => c.id).join(', ')})`);
  for (const [i, c] of cells.entries()) {
    log(`cell ${i + 1}/${cells.length} ${c.id}: ${describeWorkload(c.workload)}, QoS ${c.qos}`);
    cellResults.push(await runCell(env, ctx, c, { plan: o.matrixPlan, serialPlan: o.serialPlan }));
  }
  const latency: LatencyResult[] = [];
  if (o.latencyMessages > 0) {
    log(`sequential QoS 1 publish latency, ${o.latencyMessages} messages, one in flight`);
    for (const via of ['embedded', 'mqtt+mosquitto'] as const) latency.push(await runLatency(env, edgefluxDef(ctx, false, via), o.latencyMessages));
  }
  // The reference workload's figures (max rate, CPU and RSS against the bare batcher at QoS 0 and 1) come from the `mqtt/flat/100` cells.
  const blocks: SystemQosResult[] = cellResults.filter((r) => /^mqtt\/flat\/100\/q[01]$/.test(r.cell.id)).flatMap((r) => r.blocks);
  const shaped: SystemQosResult[] = [];
  const shapedDef = systems.find((s) => s.shaped);
  const rawDef = systems.find((s) => s.name === 'edgeflux');
  if (shapedDef && rawDef && o.qos.includes(1)) {
    // The window + deadband pipeline against raw edgeflux, side by side on the `point` payload (its checks count by run tag).
    log('QoS 1, point payload, 100 devices: edgeflux raw and with the window + deadband pipeline');
    shaped.push(...(await runQosBlock({ ...env, devices: 100 }, [rawDef, shapedDef], 1, o.plan)));
  }
  const outage: OutageResult[] = [];
  if (o.outage) {
    log(`outage and backlog: ${o.outageReadings} readings while influxd is down, ${o.outageReps} run(s)`);
    for (let rep = 1; rep <= o.outageReps; rep++) {
      // Node-RED once: it loses the backlog (its figure is the loss, not a rate).
      for (const def of systems.filter((s) => !s.shaped && (rep === 1 || s.name !== 'nodered'))) {
        try {
          outage.push({ ...(await runOutage(env, def, { readings: o.outageReadings, rate: o.outageRate })), rep });
        } catch (e) {
          if (def.name !== 'nodered') throw e;
          log(`  Node-RED outage run failed: ${String(e).slice(0, 500)}`);
        }
      }
      if (o.ceilings) {
        // The ceiling moves with the machine's load: measured again next to each drain, compared as a median.
        const p = await postCeiling(runtime, influx, 'bench_ceiling', o.postCeilingPoints, 1, o.devices);
        postCeilings.push({ ...p, after: rep });
        log(`  batched POSTs into influxd, 1 in flight, after outage run ${rep}: ${Math.round(p.rate)} points/s`);
      }
    }
  }

  const stamp = startedAt.toISOString().slice(0, 16).replace(/[:T]/g, '-');
  let profile: ProfileResult | undefined;
  const profiled = systems.find((s) => s.name === 'edgeflux');
  if (o.profile && profiled) {
    // On a realistic workload: flat readings from 1,000 devices through mosquitto.
    const w: Workload = { source: 'mosquitto', payload: 'flat', devices: 1000, connections: 1, window: 20_000 };
    profile = await runProfile({ ...env, devices: 1000, workload: w }, profiled, ROOT, join(ROOT, 'bench', '.work', 'profiles'), stamp, 10_000, o.profileMs);
    log(
      `  hot spots: ${profile.top
        .slice(0, 6)
        .map((h) => `${h.name} ${h.selfPct.toFixed(1)}%`)
        .join(', ')}`,
    );
  }

  await gen.stop();
  await Promise.all([broker.stop(), influx.stop()]);

  const loadEnd = loadAverage();
  if (setup.mode === 'durable') {
    const files = blocks
      .filter((b) => b.system === 'edgeflux')
      .map((b) => b.facts)
      .join('; ');
    if (/journal files: 0\b/.test(files))
      notes.push(`edgeflux was configured durable but wrote no journal files (${files}): the journal is probably not wired into the daemon yet`);
  }
  const loads = [...shaped, ...cellResults.flatMap((r) => r.blocks)].flatMap((b) => b.steps.map((s) => s.load1));
  const loadSteps = loads.length
    ? `; 1-min load average at the end of the steps: median ${median(loads)?.toFixed(1)}, max ${Math.max(...loads).toFixed(1)} (the bench itself accounts for about 2)`
    : '';
  notes.push(
    `the machine is shared (other engineers' builds and tests ran meanwhile): load average (1/5/15 min) ${loadStart} at the start, ${loadEnd} at the end${loadSteps}; compare ratios within this run, not absolute figures across runs`,
  );
  const method = [
    `Load: a matrix of ${cells.length} cells (payload × devices × path, bench/lib/matrix.ts); the publisher is a raw MQTT 3.1.1 client in its own process: one connection → private mosquitto (\`max_queued_messages 0\`) → system under test (its own process, its own database) → private influxd; or, for the embedded broker, one connection per device straight into it (QoS 1, a window of 1 or 64 per connection); or JSON lines on ${SERIAL_PORTS} socat ptys at ${SERIAL_RATE}/s in all. Outage and edgeflux-shaped: the \`point\`/\`flat\` payloads over 100 devices`,
    `A rate is *sustained* when every reading is in influxd within ${o.drainLimitMs / 1000} s of the last publish (matrix cells: steps of ${o.matrixPlan.stepMs / 1000} s, 10k/s ${o.matrixPlan.fixedReps?.[0] ?? o.matrixPlan.reps}× and 20k/s ${o.matrixPlan.fixedReps?.[1] ?? o.matrixPlan.reps}×, medians; the reference's max is searched (×${o.matrixPlan.climbFactor} steps, then bisected), ${o.matrixPlan.stopAtFraction !== undefined ? `edgeflux is stepped straight to ${o.matrixPlan.stopAtFraction}× of it and reported as "≥" when it sustains that` : "edgeflux's too"}; edgeflux-shaped: steps of ${o.plan.stepMs / 1000} s, ${o.plan.reps} repetition(s); a rate counts when most repetitions sustain it)`,
    'CPU µs per reading: utime+stime of the system\'s process tree (/proc; with mosquitto\'s for "mosquitto + edgeflux") from the first publish to the last reading stored, divided by the messages stored; peak RSS: VmHWM, reset at the start of the step and read at its end (the whole step), or VmRSS sampled every 100 ms',
    `edgeflux: ${setup.note}; \`node ${[...unitNodeFlags(ROOT), ''].join(' ')}bench/.work/js/src/cli/main.js run\` (transpiled src/; node flags and Environment= as in systemd/edgeflux.service); output retry 200 ms..2 s. Baseline: bench/baseline.ts (mqtt.js + 5000-line POSTs, 1 in flight, retry every 1 s)`,
  ];
  if (shaped.length > 0) {
    method.push(
      `edgeflux (window+deadband), QoS 1 only, measured side by side with raw edgeflux on the \`point\` payload over 100 devices: the same config plus \`pipeline: ${JSON.stringify(SHAPED_PIPELINE).replace(/"/g, '')}\` on every series. It writes window points, so a step is *sustained* when edgeflux received every message, held none and its output was at the journal's head (\`/spool\` behind 0: every window closed and its point written) within ${o.drainLimitMs / 1000} s + ${CLOSE_DELAY_MS / 1000} s (the close delay of a quiet series: stream clock 1 s behind, idle ${WINDOW_IDLE}, batch max_age 1 s) of the last publish, and the step's window points (\`seq_count\` summed per device) account for every reading; CPU µs per reading as above, up to that moment (its /spool polls included)`,
    );
  }
  if (nodeRed)
    method.push(
      'Node-RED: mqtt in (json) → function (tags, fields, timestamp) → join (5000 or 1 s) → influxdb batch (node-influx, precision µs); writes seq as a float',
    );

  const results: BenchResults = {
    info: {
      startedAt,
      finishedAt: new Date(),
      quick: o.quick,
      command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
      machine: machineInfo(),
      versions: [...codeVersion, ...extraVersions],
      method,
      notes,
      edgefluxMode: setup.mode,
    },
    brokerCeilings,
    postCeilings,
    blocks,
    outage,
    charts: [],
    ...(profile ? { profile } : {}),
    ...(shaped.length > 0 ? { shaped } : {}),
    matrix: { cells: cellResults, climbed: o.matrixPlan.maxClimbSteps > 0, latency },
  };

  if (o.writeResults) {
    const resultsDir = join(ROOT, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    for (const qos of o.qos) {
      const bs = blocks.filter((b) => b.qos === qos);
      if (bs.length === 0) continue;
      const file = join(resultsDir, `${stamp}-cpu-qos${qos}${o.quick ? '-quick' : ''}.svg`);
      await writeFile(file, cpuChart(bs, `CPU per reading vs offered rate, QoS ${qos} (${stamp}${o.quick ? ', quick' : ''})`));
      results.charts.push(relative(join(ROOT, 'bench'), file));
    }
    if (cellResults.length > 0) {
      const file = join(resultsDir, `${stamp}-matrix${o.quick ? '-quick' : ''}.svg`);
      await writeFile(file, matrixChart(results.matrix!, `CPU per reading at 10k/s against the reference, per cell (${stamp}${o.quick ? ', quick' : ''})`));
      results.charts.push(relative(join(ROOT, 'bench'), file));
    }
    // Raw figures (every step) stay out of git: bench/.work/ is ignored. The committed output is RESULTS.md and the charts.
    const rawDir = join(ROOT, 'bench', '.work', 'results');
    await mkdir(rawDir, { recursive: true });
    const rawFile = join(rawDir, `${stamp}${o.quick ? '-quick' : ''}-raw.json`);
    await writeFile(rawFile, JSON.stringify(results, null, 1));
    const md = join(ROOT, 'bench', 'RESULTS.md');
    if (!existsSync(md))
      await writeFile(md, '# Benchmark results\n\nWritten by `npm run bench` (bench/README.md explains the method); newest at the bottom.\n');
    await appendFile(md, `\n${renderSection(results)}\n`);
    log(`results appended to ${relative(ROOT, md)}; charts in ${relative(ROOT, resultsDir)}/; raw figures in ${relative(ROOT, rawFile)} (not committed)`);
  }
  log('matrix, targets per cell:');
  for (const r of cellResults) {
    for (const t of cellTargets(r, results.matrix!.climbed))
      log(
        `  ${t.verdict.padEnd(4)} ${r.cell.id.padEnd(24)} ${t.figure}: edgeflux ${t.edgeflux}, reference ${t.reference}, ${t.ratio} (needed ${t.needed})${t.why ? ` — ${t.why}` : ''}`,
      );
  }
  for (const l of latency) log(`  ${l.label}: ${l.msPerMessage.toFixed(2)} ms per sequential QoS 1 message (needed ≤ 1 ms through the embedded broker)`);
  log('targets on the reference workload (mqtt/flat/100 cells): rate, CPU, RSS, shaped pipeline, drain and start time:');
  for (const t of evaluateTargets(results))
    log(`  ${t.verdict.padEnd(4)} ${t.target}: edgeflux ${t.edgeflux}, reference ${t.reference}, ${t.ratio} (needed ${t.needed})${t.why ? ` — ${t.why}` : ''}`);
  return 0;
}

/**
 * `--edge` and `--edge-outage` (lib/edge.ts): the footprint of the example config on a
 * small host, instead of the throughput matrix.
 */
async function edgeMain(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      edge: { type: 'boolean', default: false },
      'edge-outage': { type: 'boolean', default: false },
      runs: { type: 'string', default: String(EDGE_DEFAULTS.runs) },
      'idle-seconds': { type: 'string', default: String(EDGE_DEFAULTS.idleMs / 1000) },
      'outage-seconds': { type: 'string' },
      rate: { type: 'string', default: String(EDGE_DEFAULTS.rate) },
      'no-results': { type: 'boolean', default: false },
    },
  });
  installMissingServers(log);
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`bench: missing prerequisites:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 2;
  }
  installCleanupHandlers((s) => process.stderr.write(`${s}\n`));
  const startedAt = new Date();
  const loadStart = loadAverage();
  const codeVersion = versions(ROOT);
  const { runtime } = await transpile(ROOT);
  const influx = await startInfluxd();
  const rate = Number(v.rate);
  let section: string;
  let raw: unknown;
  try {
    const notes = () => [
      `${codeVersion.join(', ')}; ${machineInfo().join(', ')}`,
      `the machine is shared: load average (1/5/15 min) ${loadStart} at the start, ${loadAverage()} at the end; idle CPU and wake-ups count other processes' interference as the daemon's own when they delay it`,
    ];
    if (v['edge-outage']) {
      const o: EdgeOutageOptions = {
        rate,
        devices: EDGE_DEFAULTS.devices,
        outageMs: Number(v['outage-seconds'] ?? 3600) * 1000,
        settleMs: EDGE_DEFAULTS.settleMs,
      };
      log(`edge outage: influxd down ${o.outageMs / 1000} s at ${o.rate} readings/s`);
      const r = await edgeOutage(runtime, ROOT, influx, o, log);
      section = renderEdgeOutageSection(startedAt, o, r, notes());
      raw = r;
    } else {
      const o: EdgeOptions = {
        ...EDGE_DEFAULTS,
        runs: Number(v.runs),
        idleMs: Number(v['idle-seconds']) * 1000,
        rate,
        ...(v['outage-seconds'] ? { outageMs: Number(v['outage-seconds']) * 1000 } : {}),
      };
      const runs: EdgeRun[] = [];
      for (let i = 1; i <= o.runs; i++) {
        log(`edge run ${i}/${o.runs}`);
        runs.push(await edgeRun(runtime, ROOT, influx, o, log));
      }
      for (const t of edgeTargets(runs))
        log(`  ${t.ok === undefined ? '?' : t.ok ? 'met' : 'NOT'} ${t.figure}: median ${t.median?.toFixed(3) ?? '—'} ${t.unit} (target ${t.target})`);
      section = renderEdgeSection(startedAt, o, runs, notes());
      raw = runs;
    }
  } finally {
    await influx.stop();
  }
  if (!v['no-results']) {
    const stamp = startedAt.toISOString().slice(0, 16).replace(/[:T]/g, '-');
    const rawDir = join(ROOT, 'bench', '.work', 'results');
    await mkdir(rawDir, { recursive: true });
    await writeFile(join(rawDir, `${stamp}-${v['edge-outage'] ? 'edge-outage' : 'edge'}-raw.json`), JSON.stringify(raw, null, 1));
    await appendFile(join(ROOT, 'bench', 'RESULTS.md'), `\n${section}\n`);
    log('results appended to bench/RESULTS.md');
  } else {
    process.stdout.write(`${section}\n`);
  }
  return 0;
}

let opts: BenchOptions | 'help';
const argv = process.argv.slice(2);
try {
  opts = argv.includes('--edge') || argv.includes('--edge-outage') ? 'help' : parseOptions(argv);
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n\n${USAGE}\n`);
  process.exit(2);
}
if (opts === 'help' && !(argv.includes('--edge') || argv.includes('--edge-outage'))) {
  process.stdout.write(`${USAGE}\n`);
} else {
  (opts === 'help' ? edgeMain(argv) : main(opts)).then(
    async (code) => {
      await cleanupAll();
      process.exit(code);
    },
    async (err: unknown) => {
      // Interrupted: the signal handler is stopping the children (which is why this failed) and exits.
      if (interruptedBy()) return;
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      await cleanupAll();
      process.exit(1);
    },
  );
}
