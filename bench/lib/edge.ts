/**
 * `npm run bench -- --edge`: what edgeflux costs a Raspberry Pi–class host while little or
 * nothing happens, measured on the real daemon (transpiled src/, node flags and environment of the systemd
 * unit) run with examples/edgeflux.yaml (embedded broker, one InfluxDB 1.x output, durable
 * spool, internal metrics on as by default) against a private influxd. Per run:
 *
 * - idle (after a settle): wake-ups (`strace -c -f -e trace=epoll_pwait`), CPU
 *   (/proc/PID/stat), disk writes (/proc/PID/io write_bytes) and RSS, over `idleMs`. An idle
 *   daemon journals its own points once a minute, and write_bytes counts whole 4 KiB pages
 *   as they are dirtied: a window of 60 s holds one or two such writes (68 or 136 B/s), so
 *   the default window is 90 s and the median of the runs is the figure;
 * - loaded: `rate` readings/s at QoS 1 from `devices` devices into the embedded broker,
 *   write_bytes per reading once influxd holds them all;
 * - outage: influxd stopped for `outageMs` while a few readings arrive; the time from
 *   influxd answering /ping again to its first accepted write.
 *
 * `--edge-outage` (edgeOutage below): influxd down for a long time at a steady rate.
 */
import { readFileSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { Runtime } from './build.js';
import { checkConfig, startEdgeflux, unitEnvironment, unitNodeFlags } from './edgeflux.js';
import { LoadGenerator } from './load.js';
import { freePort, sleep } from './net.js';
import { removeDir, tempDir, type Proc } from './procs.js';
import { TreeMeter, treeCpuUs, treeRssKb } from './procstat.js';
import { databaseOf, deviceName, payloadOf, topicOf, topicPrefix } from './readings.js';
import type { Influxd } from './servers.js';
import { countRun, findMissing } from './verify.js';
import { edgefluxDecoding } from './workload.js';
import { median } from './results.js';

export const EDGE_SYSTEM = 'edgeflux-edge';

export interface EdgeOptions {
  readonly runs: number;
  readonly settleMs: number;
  readonly idleMs: number;
  readonly rate: number;
  readonly devices: number;
  readonly loadMs: number;
  readonly outageMs: number;
}

export const EDGE_DEFAULTS: EdgeOptions = { runs: 3, settleMs: 15_000, idleMs: 90_000, rate: 2000, devices: 1000, loadMs: 15_000, outageMs: 60_000 };

export interface EdgeRun {
  readonly wakeupsPerS: number | undefined;
  readonly idleCpuPct: number;
  readonly idleWriteBps: number;
  readonly idleRssMb: number;
  readonly loadedBytesPerReading: number | undefined;
  readonly topicPayloadBytes: number;
  readonly recoveryMs: number | undefined;
}

interface Daemon {
  readonly proc: Proc;
  readonly dir: string;
  readonly brokerPort: number;
  /** Its health listener (/metrics). */
  readonly httpPort: number;
  stop(): Promise<void>;
}

/** examples/edgeflux.yaml with its ports, paths and InfluxDB moved to private ones, plus the bench topics' rule. */
async function startExampleDaemon(runtime: Runtime, root: string, influx: Influxd, db: string): Promise<Daemon> {
  const dir = await tempDir('edgeflux-edge-');
  const cfg = parseYaml(readFileSync(join(root, 'examples', 'edgeflux.yaml'), 'utf8')) as Record<string, any>;
  const brokerPort = await freePort();
  cfg.broker.port = brokerPort;
  cfg.outputs[0].url = influx.url;
  cfg.outputs[0].database = db;
  cfg.spool.dir = join(dir, 'spool');
  cfg.dead_letter.path = join(dir, 'dead-letter.jsonl');
  const httpPort = await freePort();
  cfg.service.http.port = httpPort;
  cfg.rules = [...edgefluxDecoding('point', EDGE_SYSTEM).rules, ...(cfg.rules as unknown[])];
  const file = join(dir, 'edgeflux.yaml');
  await writeFile(file, stringify(cfg));
  const problems = await checkConfig(runtime, file);
  if (problems) throw new Error(`edgeflux check refused the edge config:\n${problems}`);
  const { proc } = await startEdgeflux(runtime, file, unitNodeFlags(root), unitEnvironment(root));
  return {
    proc,
    dir,
    brokerPort,
    httpPort,
    async stop() {
      await proc.stop(15_000);
      await removeDir(dir);
    },
  };
}

/** V8's heap from the daemon's /metrics (MB): committed (total) and in use, garbage included; undefined when it does not answer. */
async function heapMb(port: number): Promise<{ total: number; used: number } | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const pick = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    return { total: pick('nodejs_heap_size_total_bytes'), used: pick('nodejs_heap_size_used_bytes') };
  } catch {
    return undefined;
  }
}

function writeBytes(pid: number): number {
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** epoll_pwait calls of `pid` and its threads over `ms` (strace -c), or undefined without strace. */
function countWakeups(pid: number, ms: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const p = spawn('strace', ['-c', '-f', '-e', 'trace=epoll_pwait,epoll_wait', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', () => resolve(undefined));
    const timer = setTimeout(() => p.kill('SIGINT'), ms);
    p.on('close', () => {
      clearTimeout(timer);
      // "% time  seconds  usecs/call  calls  errors syscall": the calls column of each epoll line.
      let calls = 0;
      let seen = false;
      for (const line of out.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (/^epoll_p?wait$/.test(f[f.length - 1] ?? '')) {
          seen = true;
          calls += Number(f[3]);
        }
      }
      resolve(seen ? calls : out.includes('attached') || out.includes('total') ? 0 : undefined);
    });
  });
}

async function dirBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) sum += (await stat(join(e.parentPath ?? e.path, e.name))).size;
  }
  return sum;
}

/** Mean topic + payload bytes of the `point` readings the load sends (`run` as in a step). */
function meanTopicPayload(run: string, devices: number, tsBase: number): number {
  let sum = 0;
  const n = 1000;
  for (let seq = 0; seq < n; seq++) sum += topicOf(topicPrefix(EDGE_SYSTEM, run), deviceName(seq, devices)).length + payloadOf(seq, tsBase).length;
  return sum / n;
}

async function waitStored(influx: Influxd, db: string, run: string, count: number, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  let n = 0;
  while (Date.now() < deadline) {
    n = await countRun(influx, db, run).catch(() => n);
    if (n >= count) return n;
    await sleep(250);
  }
  return n;
}

export async function edgeRun(runtime: Runtime, root: string, influx: Influxd, o: EdgeOptions, log: (s: string) => void): Promise<EdgeRun> {
  const db = databaseOf(EDGE_SYSTEM);
  await influx.createDatabase(db);
  const d = await startExampleDaemon(runtime, root, influx, db);
  let gen: LoadGenerator | undefined;
  try {
    await sleep(o.settleMs);
    const pid = d.proc.pid;
    const cpu0 = treeCpuUs(pid);
    const w0 = writeBytes(pid);
    const t0 = Date.now();
    const calls = await countWakeups(pid, o.idleMs);
    const secs = (Date.now() - t0) / 1000;
    const idle = {
      wakeupsPerS: calls === undefined ? undefined : calls / secs,
      idleCpuPct: ((treeCpuUs(pid) - cpu0) / 1e6 / secs) * 100,
      idleWriteBps: (writeBytes(pid) - w0) / secs,
      idleRssMb: treeRssKb(pid) / 1024,
    };
    log(
      `    idle ${secs.toFixed(0)} s: ${idle.wakeupsPerS?.toFixed(2) ?? '?'} wake-ups/s, CPU ${idle.idleCpuPct.toFixed(3)} %, writes ${idle.idleWriteBps.toFixed(0)} B/s, RSS ${idle.idleRssMb.toFixed(1)} MB`,
    );

    gen = await LoadGenerator.start(runtime, d.brokerPort, 'edge-load');
    const run = `edge${Date.now() % 1_000_000}`;
    const tsBase = Date.now() * 1000;
    const count = Math.round((o.rate * o.loadMs) / 1000);
    const wl0 = writeBytes(pid);
    const pub = await gen.publish({ system: EDGE_SYSTEM, run, devices: o.devices, rate: o.rate, count, qos: 1, tsBase });
    const stored = await waitStored(influx, db, run, count, 30_000);
    await sleep(1000); // the cursor's save after the last write
    const loadedBytesPerReading = stored >= count ? (writeBytes(pid) - wl0) / count : undefined;
    const topicPayloadBytes = meanTopicPayload(run, o.devices, tsBase);
    log(
      `    loaded: ${pub.sent} at ${Math.round(pub.achievedRate)}/s, ${stored} stored; ${loadedBytesPerReading?.toFixed(1) ?? '?'} B written per reading (topic+payload ${topicPayloadBytes.toFixed(1)} B)`,
    );

    // Outage: a few readings wait in the spool while influxd is down; then the first write after it answers again.
    const orun = `edgeout${Date.now() % 1_000_000}`;
    await influx.pause();
    try {
      await gen.publish({ system: EDGE_SYSTEM, run: orun, devices: o.devices, rate: 100, count: 100, qos: 1, tsBase: Date.now() * 1000 });
      await sleep(Math.max(0, o.outageMs - 1000));
    } finally {
      await influx.resume();
    }
    const upAt = Date.now();
    let recoveryMs: number | undefined;
    while (Date.now() - upAt < 120_000) {
      if ((await influx.pointsWritten(db).catch(() => 0)) > 0) {
        recoveryMs = Date.now() - upAt;
        break;
      }
      await sleep(50);
    }
    log(
      `    outage ${o.outageMs / 1000} s: first write ${recoveryMs === undefined ? 'not seen within 120 s' : `${(recoveryMs / 1000).toFixed(2)} s`} after influxd answered again`,
    );
    return { ...idle, loadedBytesPerReading, topicPayloadBytes, recoveryMs };
  } finally {
    await gen?.stop();
    await d.stop();
  }
}

export interface EdgeTarget {
  readonly figure: string;
  readonly values: readonly (number | undefined)[];
  readonly median: number | undefined;
  readonly unit: string;
  readonly target: string;
  readonly ok: boolean | undefined;
}

export function edgeTargets(runs: readonly EdgeRun[]): EdgeTarget[] {
  const row = (
    figure: string,
    unit: string,
    target: string,
    pick: (r: EdgeRun) => number | undefined,
    ok: (m: number, r: readonly EdgeRun[]) => boolean,
  ): EdgeTarget => {
    const values = runs.map(pick);
    const m = median(values.filter((v): v is number => v !== undefined));
    return { figure, values, median: m, unit, target, ok: m === undefined ? undefined : ok(m, runs) };
  };
  const tp = median(runs.map((r) => r.topicPayloadBytes)) ?? 0;
  return [
    row(
      'wake-ups of an idle daemon (epoll_pwait)',
      '/s',
      '≤ 2/s',
      (r) => r.wakeupsPerS,
      (m) => m <= 2,
    ),
    row(
      'CPU of an idle daemon',
      '% of a core',
      '≤ 0.1 %',
      (r) => r.idleCpuPct,
      (m) => m <= 0.1,
    ),
    row(
      'disk writes of an idle daemon, internal_metrics on',
      'B/s',
      '≤ 100 B/s',
      (r) => r.idleWriteBps,
      (m) => m <= 100,
    ),
    row(
      `bytes written per reading at 2k/s (topic+payload ${tp.toFixed(0)} B)`,
      'B',
      `≤ ${tp.toFixed(0)} B (1.0× topic+payload)`,
      (r) => r.loadedBytesPerReading,
      (m) => m <= tp,
    ),
    row(
      'RSS of an idle daemon',
      'MB',
      '≤ 60 MB',
      (r) => r.idleRssMb,
      (m) => m <= 60,
    ),
    row(
      'InfluxDB answering again → first successful write, after an outage',
      's',
      '≤ 2 s',
      (r) => (r.recoveryMs === undefined ? undefined : r.recoveryMs / 1000),
      (m) => m <= 2,
    ),
  ];
}

const fmt = (v: number | undefined): string => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function renderEdgeSection(startedAt: Date, o: EdgeOptions, runs: readonly EdgeRun[], notes: readonly string[]): string {
  const rows = edgeTargets(runs).map(
    (t) =>
      `| ${t.figure} | ${t.values.map(fmt).join(' / ')} | ${fmt(t.median)} ${t.unit} | ${t.target} | ${t.ok === undefined ? '?' : t.ok ? 'met' : 'NOT met'} |`,
  );
  return [
    `## Edge footprint, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (\`npm run bench -- --edge\`)`,
    '',
    `examples/edgeflux.yaml (embedded broker, one InfluxDB 1.x output, durable spool, internal metrics on) with the node flags and the Environment= lines of systemd/edgeflux.service; ${runs.length} run(s), each: ${o.settleMs / 1000} s settle, ${o.idleMs / 1000} s idle (strace -c counts epoll_pwait; /proc/PID/stat CPU; /proc/PID/io write_bytes; VmRSS at its end), ${o.loadMs / 1000} s of ${o.rate} readings/s at QoS 1 from ${o.devices} devices into the embedded broker (write_bytes once influxd holds them all), then influxd down for ${o.outageMs / 1000} s with 100 readings waiting.`,
    '',
    '| figure | runs | median | target | |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}

export interface EdgeOutageOptions {
  readonly rate: number;
  readonly devices: number;
  readonly outageMs: number;
  readonly settleMs: number;
}

export interface EdgeOutageResult {
  readonly readings: number;
  readonly publishedRate: number;
  readonly lost: number;
  readonly missingExamples: readonly string[];
  readonly rssStartMb: number;
  /** RSS 10 s into the outage, once the load has set in (MB): growth past it is what the outage itself adds. */
  readonly rssLoadedMb: number;
  readonly rssMaxMb: number;
  readonly rssEndMb: number;
  /** RSS (MB) every tenth of the outage, from 10 s in: flat or growing? */
  readonly rssSeriesMb: readonly number[];
  /** V8's committed heap when influxd went down and when it came back (MB), from /metrics. */
  readonly heapStartMb?: number;
  readonly heapEndMb?: number;
  readonly spoolBytes: number;
  readonly predictedSpoolBytes: number;
  readonly bytesPerReading: number;
  readonly drainRate: number | undefined;
  readonly drainMs: number | undefined;
}

/**
 * InfluxDB down for `outageMs` while `rate` readings/s arrive at QoS 1; then the drain. The
 * spool's growth per reading is measured over the first 10 s of the outage and predicts
 * its size at the end.
 */
export async function edgeOutage(runtime: Runtime, root: string, influx: Influxd, o: EdgeOutageOptions, log: (s: string) => void): Promise<EdgeOutageResult> {
  const db = databaseOf(EDGE_SYSTEM);
  await influx.createDatabase(db);
  const d = await startExampleDaemon(runtime, root, influx, db);
  const gen = await LoadGenerator.start(runtime, d.brokerPort, 'edge-outage-load');
  try {
    await sleep(o.settleMs);
    const pid = d.proc.pid;
    const rssStartMb = treeRssKb(pid) / 1024;
    const heapStart = await heapMb(d.httpPort);
    const spool = join(d.dir, 'spool');
    const spool0 = await dirBytes(spool);
    const run = `edgelong${Date.now() % 1_000_000}`;
    const tsBase = Date.now() * 1000;
    const readings = Math.round((o.rate * o.outageMs) / 1000);
    const meter = new TreeMeter(pid);
    meter.start();
    await influx.pause();
    let spoolBytes = 0;
    let predicted = 0;
    let pubRate = 0;
    let heapEnd: Awaited<ReturnType<typeof heapMb>>;
    let rssLoadedMb = 0;
    const rssSeriesMb: number[] = [];
    let sampler: ReturnType<typeof setInterval> | undefined;
    try {
      const publishing = gen.publish({
        system: EDGE_SYSTEM,
        run,
        devices: o.devices,
        rate: o.rate,
        count: readings,
        qos: 1,
        tsBase,
        timeoutMs: o.outageMs * 2 + 120_000,
      });
      const firstN = Math.min(readings, o.rate * 10);
      await sleep((firstN / o.rate) * 1000);
      rssLoadedMb = treeRssKb(pid) / 1024;
      rssSeriesMb.push(rssLoadedMb);
      sampler = setInterval(() => {
        const mb = treeRssKb(pid) / 1024;
        rssSeriesMb.push(mb);
        log(`    ${rssSeriesMb.length - 1}/10 of the outage: RSS ${mb.toFixed(1)} MB`);
      }, o.outageMs / 10);
      const perReading = ((await dirBytes(spool)) - spool0) / firstN;
      predicted = spool0 + perReading * readings;
      const pub = await publishing;
      pubRate = pub.achievedRate;
      await sleep(2000);
      spoolBytes = await dirBytes(spool);
      heapEnd = await heapMb(d.httpPort);
      log(
        `    published ${pub.sent} at ${Math.round(pub.achievedRate)}/s while influxd was down; spool ${(spoolBytes / 1048576).toFixed(1)} MB (predicted from the first 10 s: ${(predicted / 1048576).toFixed(1)} MB)`,
      );
    } finally {
      clearInterval(sampler);
      await influx.resume();
    }
    const rssMaxMb = meter.stop().peakRssMb;
    const upAt = Date.now();
    let firstAt: number | undefined;
    let firstCount = 0;
    let allAt: number | undefined;
    let stored = 0;
    let lastProgress = Date.now();
    while (Date.now() - lastProgress < 30_000) {
      const n = await countRun(influx, db, run).catch(() => stored);
      const now = Date.now();
      if (n > stored) lastProgress = now;
      if (n > 0 && firstAt === undefined) {
        firstAt = now;
        firstCount = n;
      }
      stored = n;
      if (stored >= readings) {
        allAt = now;
        break;
      }
      await sleep(500);
    }
    let lost = 0;
    let missingExamples: readonly string[] = [];
    if (stored < readings) {
      const m = await findMissing(influx, db, run, readings, o.devices, tsBase).catch(() => ({ missing: readings - stored, examples: [] as string[] }));
      lost = m.missing;
      missingExamples = m.examples;
    }
    const drainRate = allAt !== undefined && firstAt !== undefined && allAt > firstAt ? (readings - firstCount) / ((allAt - firstAt) / 1000) : undefined;
    const res: EdgeOutageResult = {
      readings,
      publishedRate: pubRate,
      lost,
      missingExamples,
      rssStartMb,
      rssLoadedMb,
      rssMaxMb,
      rssEndMb: treeRssKb(pid) / 1024,
      rssSeriesMb,
      ...(heapStart && { heapStartMb: heapStart.total }),
      ...(heapEnd && { heapEndMb: heapEnd.total }),
      spoolBytes,
      predictedSpoolBytes: predicted,
      bytesPerReading: (spoolBytes - spool0) / readings,
      drainRate,
      drainMs: allAt === undefined ? undefined : allAt - upAt,
    };
    log(
      `    drained ${stored}/${readings}${allAt ? ` in ${((allAt - upAt) / 1000).toFixed(1)} s, ${Math.round(drainRate ?? 0)} readings/s` : ''}; lost ${lost}; RSS ${rssStartMb.toFixed(1)} → ${rssLoadedMb.toFixed(1)} 10 s in → max ${rssMaxMb.toFixed(1)} MB; V8 heap ${res.heapStartMb?.toFixed(1) ?? '?'} → ${res.heapEndMb?.toFixed(1) ?? '?'} MB (used at the end, garbage included: ${heapEnd?.used.toFixed(1) ?? '?'} MB)`,
    );
    return res;
  } finally {
    await gen.stop();
    await d.stop();
  }
}

export function renderEdgeOutageSection(startedAt: Date, o: EdgeOutageOptions, r: EdgeOutageResult, notes: readonly string[]): string {
  const mb = (b: number): string => (b / 1048576).toFixed(1);
  return [
    `## Long outage at a steady rate, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (\`npm run bench -- --edge-outage\`)`,
    '',
    `examples/edgeflux.yaml as in --edge; influxd down for ${o.outageMs / 1000} s while ${o.rate} readings/s arrive at QoS 1 from ${o.devices} devices (${r.readings} readings, published at ${Math.round(r.publishedRate)}/s).`,
    '',
    '| figure | measured | target |',
    '|---|---|---|',
    `| readings lost | ${r.lost}${r.missingExamples.length ? ` (${r.missingExamples.slice(0, 3).join('; ')})` : ''} | 0 |`,
    `| RSS idle at the start → 10 s into the outage → max during it (end) | ${r.rssStartMb.toFixed(1)} → ${r.rssLoadedMb.toFixed(1)} → ${r.rssMaxMb.toFixed(1)} MB (${r.rssEndMb.toFixed(1)}) | ≤ +10 MB |`,
    `| RSS 10 s in, then every tenth of the outage | ${r.rssSeriesMb.map((x) => x.toFixed(1)).join(', ')} MB | flat |`,
    `| V8 heap (committed) at the start → the end of the outage | ${r.heapStartMb?.toFixed(1) ?? '?'} → ${r.heapEndMb?.toFixed(1) ?? '?'} MB | |`,
    `| drain afterwards | ${r.drainRate === undefined ? 'did not finish' : `${Math.round(r.drainRate)} readings/s, all stored ${((r.drainMs ?? 0) / 1000).toFixed(1)} s after influxd was back`} | the usual drain rate |`,
    `| spool on disk at the end of the outage | ${mb(r.spoolBytes)} MB (${r.bytesPerReading.toFixed(1)} B per reading) | as predicted from the first 10 s: ${mb(r.predictedSpoolBytes)} MB |`,
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}
