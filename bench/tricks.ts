/**
 * `node --import tsx bench/tricks.ts [--tricks a,b] [--reps 3] [--quick] [--check]`: does each
 * hand-made optimisation of the hot path earn its keep at the whole-daemon level?
 *
 * For every trick, a variant of the daemon WITHOUT it: a copy of src/ in
 * bench/.work/variants/<trick>/ with bench/tricks/<trick>.patch applied (the trick replaced by
 * the plain platform way), transpiled beside it (lib/variants.ts). A patch that no longer
 * applies (the code moved) stops the run before anything is measured, naming the trick. `--check` runs the
 * trick's unit tests against its variant instead of measuring (the plain way must still be
 * correct).
 *
 * Measured with the bench's own parts (private mosquitto and influxd, the load generator,
 * runStep, runOutage), per run of one daemon (the repo's = with every trick, or a variant):
 * - CPU µs per reading at `--rate` (10k/s) for `--seconds`, QoS 0 and QoS 1, from
 *   `--devices` (1000) devices: the `flat` payload, or `tasmota` for the Tasmota scanner;
 * - the backlog drain (not for the Tasmota scanner): `--outage` (300k) readings published at
 *   QoS 1 while influxd is down, then the drain rate (points/s) and the daemon's CPU µs per
 *   point while draining (shown, not in the verdict: the verdict rests on the two above).
 * Runs are interleaved (with all tricks, each variant, with all tricks, …; every other round
 * in reverse order), each daemon on an emptied database. Per figure: medians and the
 * run-to-run spread (the larger range of the two sides), and the rounds won: the daemon with
 * every trick against the variant run in the same round. Verdict per trick: it "keeps its
 * keep" when, on any of its figures, the median with it beats the median without it by more
 * than the spread, or, with 5 rounds or more, it won every round (a sign test: one-sided
 * p ≤ 1/32; the range of 3 runs a side swallows 10-20 % gains on a 2-core machine); else it
 * "does not move the whole-daemon figure". A summary goes to
 * bench/RESULTS.md (a dated section; `--no-write`: printed only).
 *
 * A full run (5 tricks at the time, 3 rounds of 10 s steps, 300k-reading outages) should take about
 * 20 minutes on a 2-core machine (estimated from `--quick`, 2 rounds of 5 s steps and 100k
 * readings, which took 6.3 min). Run it on a quiet machine: under load the spread swallows
 * every difference and the figures only show that the harness works.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, cp, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { transpile, transpileVariant, type Runtime } from './lib/build.js';
import { inspectEdgeflux } from './lib/edgeflux.js';
import { LoadGenerator } from './lib/load.js';
import { runOutage } from './lib/outage.js';
import { cleanupAll, installCleanupHandlers } from './lib/procs.js';
import { startInfluxd, startMosquitto, type Influxd } from './lib/servers.js';
import { runStep, type StepEnv } from './lib/steps.js';
import { edgefluxDef, type SystemDef, type SystemsContext } from './lib/systems.js';
import { prepareVariant } from './lib/variants.js';
import type { PayloadKind, Workload } from './lib/workload.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const VARIANTS = join(ROOT, 'bench', '.work', 'variants');

interface Cell {
  readonly payload: PayloadKind;
  readonly qos: 0 | 1;
}

const FLAT: readonly Cell[] = [
  { payload: 'flat', qos: 0 },
  { payload: 'flat', qos: 1 },
];
const LP: readonly Cell[] = [
  { payload: 'lp', qos: 0 },
  { payload: 'lp', qos: 1 },
];

interface Trick {
  readonly name: string;
  /** What the patch replaces, and with what. */
  readonly what: string;
  /** Unit tests that must pass against the variant (`--check`). */
  readonly tests: readonly string[];
  /** Tests among those that check the trick itself (they fail without it, by design): left out. */
  readonly ownTests?: readonly string[];
  /** The CPU-per-reading cells where it runs (payload, QoS). */
  readonly cells: readonly Cell[];
  /** Whether the backlog drain runs it. */
  readonly drain: boolean;
}

const TRICKS: readonly Trick[] = [
  {
    name: 'json-scanner',
    what: "the flat-object JSON scanner of `json` rules (devices/flat-json.ts, per-key plans, self-adjusting skip) → JSON.parse + the general flatten (decode-json.ts's own path, which the tests compare the scanner with)",
    tests: ['test/unit/decode-json.test.ts', 'test/unit/rules.test.ts', 'test/unit/fuzz-sample.test.ts', 'test/unit/drain.test.ts'],
    ownTests: ['whatever keys the previous messages had at each position'], // asserts that the fast path answered
    cells: FLAT,
    drain: true,
  },
  {
    name: 'lp-pass',
    what: "line protocol passed through as text when already in the encoder's form (devices/line-protocol-pass.ts) → every line parsed into a reading and encoded again",
    tests: [
      'test/unit/decode-line-protocol.test.ts',
      'test/unit/rules.test.ts',
      'test/unit/line-protocol.test.ts',
      'test/unit/fuzz-sample.test.ts',
      'test/unit/drain.test.ts',
    ],
    cells: LP,
    drain: false,
  },
];

/** One figure of one daemon run; `ok` false when the step lost or was late (the figure is then suspect). */
interface Sample {
  readonly value: number;
  readonly ok: boolean;
}

interface Figure {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Larger is better (a rate) rather than smaller (CPU per reading). */
  readonly higherBetter: boolean;
  /** One of the figures the verdict rests on (CPU per reading at 10k/s, drain rate); else shown for information. */
  readonly decides: boolean;
}

/** The middle value; for an even count, the mean of the two middle ones (2 rounds: their mean, not the larger). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * The highest 1-minute load average of a quiet run: the bench's own processes (load generator,
 * mosquitto, influxd, the daemon) keep a 2-core machine at 1-2 by themselves (measured: median
 * 1.05, max 1.76 with nothing else running); above this, other work shares the cores.
 */
const QUIET_LOAD = 2.5;

const log = (s: string): void => void process.stdout.write(`${s}\n`);

function git(args: readonly string[], cwd: string): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** Runs the trick's unit tests against its variant (the tests and config copied beside its src/). */
async function checkVariant(t: Trick, dir: string): Promise<boolean> {
  await cp(join(ROOT, 'test'), join(dir, 'test'), { recursive: true });
  for (const f of ['vitest.config.ts', 'package.json', 'tsconfig.json']) await cp(join(ROOT, f), join(dir, f));
  for (const d of ['devices', 'schema', 'examples', 'status-page', 'systemd', 'grafana', 'node_modules']) {
    if (existsSync(join(ROOT, d))) await symlink(join(ROOT, d), join(dir, d), 'dir');
  }
  log(`check ${t.name}: ${t.tests.join(' ')}`);
  const escape = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const skip = t.ownTests?.length ? ['--testNamePattern', `^(?!.*(?:${t.ownTests.map(escape).join('|')})).*$`] : [];
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', dir, ...skip, ...t.tests], {
    cwd: dir,
    stdio: 'inherit',
    timeout: 600_000,
  });
  return r.status === 0;
}

interface Options {
  readonly tricks: readonly Trick[];
  readonly reps: number;
  readonly seconds: number;
  readonly rate: number;
  readonly devices: number;
  readonly outage: number;
  readonly outageRate: number;
  readonly quick: boolean;
  readonly write: boolean;
  readonly check: boolean;
}

function options(): Options {
  const { values: v } = parseArgs({
    options: {
      tricks: { type: 'string' },
      reps: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string', default: '10000' },
      devices: { type: 'string', default: '1000' },
      outage: { type: 'string' },
      'outage-rate': { type: 'string', default: '20000' },
      quick: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
  });
  const names = v.tricks
    ? v.tricks
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : TRICKS.map((t) => t.name);
  const tricks = names.map((n) => {
    const t = TRICKS.find((x) => x.name === n);
    if (!t) throw new Error(`--tricks: unknown trick "${n}" (one of ${TRICKS.map((x) => x.name).join(', ')})`);
    return t;
  });
  const num = (s: string | undefined, d: number, name: string): number => {
    const n = s === undefined ? d : Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: a positive number, got ${s}`);
    return n;
  };
  return {
    tricks,
    reps: num(v.reps, v.quick ? 2 : 3, 'reps'),
    seconds: num(v.seconds, v.quick ? 5 : 10, 'seconds'),
    rate: num(v.rate, 10_000, 'rate'),
    devices: num(v.devices, 1000, 'devices'),
    outage: num(v.outage, v.quick ? 100_000 : 300_000, 'outage'),
    outageRate: num(v['outage-rate'], 20_000, 'outage-rate'),
    quick: v.quick,
    write: !v['no-write'],
    check: v.check,
  };
}

/** A daemon under test: the repo's (every trick) or a variant. */
interface Subject {
  readonly name: string;
  readonly runtime: Runtime;
  readonly cells: readonly Cell[];
  readonly drain: boolean;
}

const cellKey = (c: Cell): string => `${c.payload} q${c.qos}`;

function figuresOf(o: Options, t: Trick): Figure[] {
  return [
    ...t.cells.map((c) => ({
      key: cellKey(c),
      label: `CPU per reading at ${o.rate / 1000}k/s, ${c.payload}, QoS ${c.qos}`,
      unit: 'µs',
      higherBetter: false,
      decides: true,
    })),
    ...(t.drain
      ? [
          { key: 'drain rate', label: `backlog drain rate (${o.outage / 1000}k readings)`, unit: 'points/s', higherBetter: true, decides: true },
          { key: 'drain cpu', label: 'CPU per point while draining (not in the verdict)', unit: 'µs', higherBetter: false, decides: false },
        ]
      : []),
  ];
}

/** Empties the daemons' database: every run starts on the same influxd state. */
async function freshDatabase(influx: Influxd, db: string): Promise<void> {
  await influx.query(`DROP DATABASE "${db}"`);
  await influx.createDatabase(db);
}

/** One run of one daemon: every cell, then the outage; figures by key. */
async function runSubject(o: Options, s: Subject, ctx: Omit<SystemsContext, 'runtime'>, gen: LoadGenerator, out: Map<string, Sample[]>): Promise<void> {
  const def: SystemDef = edgefluxDef({ ...ctx, runtime: s.runtime }, false);
  await freshDatabase(ctx.influx, def.db);
  const push = (k: string, x: Sample): void => void (out.get(k) ?? out.set(k, []).get(k)!).push(x);
  for (const c of s.cells) {
    const workload: Workload = { source: 'mosquitto', payload: c.payload, devices: o.devices, connections: 1, window: 20_000 };
    const env: StepEnv = { influx: ctx.influx, gen, devices: o.devices, drainLimitMs: 3000, log, workload };
    const sut = await def.start({ qos: c.qos, workload });
    try {
      await runStep(env, def, sut, c.qos, Math.min(5000, o.rate), 2000); // warm-up: JIT, series, connections
      const r = await runStep(env, def, sut, c.qos, o.rate, o.seconds * 1000);
      push(cellKey(c), { value: r.cpuUsPerReading, ok: r.sustained && r.lost === 0 });
    } finally {
      await sut.stop();
    }
  }
  if (!s.drain) return;
  const env: StepEnv = { influx: ctx.influx, gen, devices: o.devices, drainLimitMs: 3000, log };
  const r = await runOutage(env, def, { readings: o.outage, rate: o.outageRate });
  const ok = r.lost === 0 && r.drainRate !== undefined;
  push('drain rate', { value: r.drainRate ?? 0, ok });
  push('drain cpu', { value: r.drainCpu?.system ?? NaN, ok: ok && r.drainCpu !== undefined });
}

interface Row {
  readonly trick: string;
  readonly figure: Figure;
  readonly with: readonly Sample[];
  readonly without: readonly Sample[];
  readonly withMedian: number;
  readonly withoutMedian: number;
  readonly spread: number;
  /** How much better the daemon is with the trick (positive: better with it), in the figure's unit. */
  readonly gain: number;
  /** Rounds in which the daemon with the trick did better than the variant run in the same round (paired by round). */
  readonly roundsWon: number;
  /** Rounds in which it did worse. */
  readonly roundsLost: number;
  readonly suspect: boolean;
}

const range = (xs: readonly Sample[]): number => Math.max(...xs.map((x) => x.value)) - Math.min(...xs.map((x) => x.value));

function compare(trick: string, f: Figure, withT: readonly Sample[], without: readonly Sample[]): Row {
  const wm = median(withT.map((x) => x.value));
  const om = median(without.map((x) => x.value));
  return {
    trick,
    figure: f,
    with: withT,
    without,
    withMedian: wm,
    withoutMedian: om,
    spread: Math.max(range(withT), range(without)),
    gain: f.higherBetter ? wm - om : om - wm,
    ...pairedByRound(f, withT, without),
    suspect: [...withT, ...without].some((x) => !x.ok || !Number.isFinite(x.value)),
  };
}

/** Rounds won and lost by the daemon with the trick against the variant of the same round. */
function pairedByRound(f: Figure, withT: readonly Sample[], without: readonly Sample[]): { roundsWon: number; roundsLost: number } {
  let roundsWon = 0;
  let roundsLost = 0;
  for (let i = 0; i < Math.min(withT.length, without.length); i++) {
    const d = (f.higherBetter ? 1 : -1) * ((withT[i] as Sample).value - (without[i] as Sample).value);
    if (d > 0) roundsWon++;
    else if (d < 0) roundsLost++;
  }
  return { roundsWon, roundsLost };
}

/**
 * Rounds after which winning (or losing) every one of them is a verdict on its own: the sign
 * test's one-sided p is 2^-rounds, 1/32 for five. With fewer, only the range rule decides.
 */
const SIGN_TEST_ROUNDS = 5;

/** Better with the trick beyond the noise: the median gain exceeds the spread, or it won every round of ≥ 5. */
const beyondNoise = (r: Row, sign: 1 | -1): boolean =>
  sign * r.gain > r.spread || (r.with.length >= SIGN_TEST_ROUNDS && (sign === 1 ? r.roundsWon : r.roundsLost) === Math.min(r.with.length, r.without.length));

function fmt(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '—';
  return unit === 'points/s' ? Math.round(x).toLocaleString('en-US') : x.toFixed(1);
}

function verdictOf(rows: readonly Row[]): string {
  const deciding = rows.filter((r) => r.figure.decides);
  if (deciding.some((r) => r.with.length < 2 || r.without.length < 2))
    return '**no verdict**: one run per side has no run-to-run spread to compare with (--reps 2 or more)';
  const wins = deciding.filter((r) => beyondNoise(r, 1));
  const losses = deciding.filter((r) => beyondNoise(r, -1));
  const info = rows
    .filter((r) => !r.figure.decides && (beyondNoise(r, 1) || beyondNoise(r, -1)))
    .map((r) => `${r.figure.key} ${r.gain > 0 ? 'better' : 'worse'} with it beyond the spread`);
  const suspect = rows.filter((r) => r.suspect).map((r) => r.figure.key);
  const notes = [
    ...(losses.length > 0 ? [`the plain way is better on ${losses.map((r) => r.figure.key).join(', ')}`] : []),
    ...info,
    ...(suspect.length > 0 ? [`runs that lost readings or were late in: ${suspect.join(', ')}`] : []),
  ];
  const verdict =
    wins.length > 0
      ? `**keeps its keep** (${wins.map((r) => r.figure.key).join(', ')} better with it beyond the noise)`
      : '**does not move the whole-daemon figure**';
  return verdict + (notes.length > 0 ? `; ${notes.join('; ')}` : '');
}

function table(o: Options, rows: readonly Row[], tricks: readonly Trick[]): string {
  const lines = [
    '| trick | figure | with it (median; runs) | without it (median; runs) | gain with it | spread | rounds won / lost |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const runs = (xs: readonly Sample[]): string => xs.map((x) => fmt(x.value, r.figure.unit) + (x.ok ? '' : '!')).join(', ');
    const pct = r.withoutMedian !== 0 ? ` (${((r.gain / r.withoutMedian) * 100).toFixed(1)} %)` : '';
    lines.push(
      `| ${r.trick} | ${r.figure.label} (${r.figure.unit}) | ${fmt(r.withMedian, r.figure.unit)}; ${runs(r.with)} | ${fmt(r.withoutMedian, r.figure.unit)}; ${runs(r.without)} | ${fmt(r.gain, r.figure.unit)}${pct} | ${fmt(r.spread, r.figure.unit)} | ${r.roundsWon} / ${r.roundsLost} |`,
    );
  }
  lines.push('', '`!`: that run lost readings or did not drain in time; its figure is suspect.', '');
  for (const t of tricks) lines.push(`- **${t.name}** (${t.what}): ${verdictOf(rows.filter((r) => r.trick === t.name))}`);
  if (o.quick) lines.push('', '_--quick: fewer and shorter runs than the verdict needs._');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = options();
  installCleanupHandlers(log);
  const t0 = Date.now();
  // Every patch first: one that no longer applies stops the run before anything is measured.
  const dirs = new Map<string, string>();
  for (const t of o.tricks) {
    dirs.set(t.name, await prepareVariant(ROOT, t.name, VARIANTS));
    log(`variant ${t.name}: bench/tricks/${t.name}.patch applied to a copy of src/`);
  }
  if (o.check) {
    const failed: string[] = [];
    for (const t of o.tricks) if (!(await checkVariant(t, dirs.get(t.name) as string))) failed.push(t.name);
    if (failed.length > 0) throw new Error(`the unit tests fail against the variant without: ${failed.join(', ')}`);
    log(`every variant passes its unit tests (${o.tricks.map((t) => t.name).join(', ')})`);
    return;
  }
  const { runtime } = await transpile(ROOT);
  // The daemon with every trick runs every cell any selected trick needs.
  const cells = [...new Map(o.tricks.flatMap((t) => t.cells).map((c) => [cellKey(c), c])).values()];
  const subjects: Subject[] = [{ name: 'with', runtime, cells, drain: o.tricks.some((t) => t.drain) }];
  for (const t of o.tricks) subjects.push({ name: t.name, runtime: await transpileVariant(dirs.get(t.name) as string), cells: t.cells, drain: t.drain });
  const setup = await inspectEdgeflux(runtime, 'durable');
  const load0 = loadavg();
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  const gen = await LoadGenerator.start(runtime, broker.port, 'tricks-load');
  const ctx = { broker, influx, edgeflux: setup };
  const samples = new Map<string, Map<string, Sample[]>>(subjects.map((s) => [s.name, new Map()]));
  const loads: number[] = [];
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      const order = rep % 2 === 0 ? subjects : [...subjects].reverse();
      for (const s of order) {
        log(
          `round ${rep + 1}/${o.reps}: ${s.name === 'with' ? 'edgeflux with every trick' : `edgeflux without ${s.name}`} (${Math.round((Date.now() - t0) / 1000)} s)`,
        );
        await runSubject(o, s, ctx, gen, samples.get(s.name) as Map<string, Sample[]>);
        loads.push(loadavg()[0] ?? 0);
      }
    }
  } finally {
    await gen.stop();
    await cleanupAll();
  }
  const base = samples.get('with') as Map<string, Sample[]>;
  const rows: Row[] = [];
  for (const t of o.tricks) {
    const mine = samples.get(t.name) as Map<string, Sample[]>;
    for (const f of figuresOf(o, t)) rows.push(compare(t.name, f, base.get(f.key) ?? [], mine.get(f.key) ?? []));
  }
  const minutes = (Date.now() - t0) / 60_000;
  const head = git(['rev-parse', '--short', 'HEAD'], ROOT);
  const dirty = git(['status', '--porcelain', '--', 'src'], ROOT) ? ' + uncommitted changes in src/' : '';
  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const section = [
    `## ${stamp} UTC — hot-path tricks, whole daemon${o.quick ? ' (quick)' : ''}`,
    '',
    `\`${['node --import tsx bench/tricks.ts', ...process.argv.slice(2)].join(' ')}\`, ${minutes.toFixed(1)} min; edgeflux ${head}${dirty}, ${setup.note}, Node ${process.version}.`,
    '',
    `Each daemon run: ${o.seconds} s steps at ${o.rate.toLocaleString('en-US')} readings/s from ${o.devices} devices (after a 2 s warm-up), CPU µs per reading of its process tree; ` +
      `then ${o.outage.toLocaleString('en-US')} readings at QoS 1 while influxd is down and the drain once it is back. ${o.reps} rounds, interleaved (with every trick, each variant without one, …), medians; ` +
      'spread = the larger run-to-run range of the two sides; rounds won = rounds in which the daemon with the trick did better than the variant run in the same round. ' +
      `A trick keeps its keep when, on any figure, the daemon with it beats the daemon without it by more than the spread, or (with ${SIGN_TEST_ROUNDS} rounds or more) in every round (sign test, one-sided p ≤ 1/32).`,
    '',
    `Load average (1 min): ${load0[0]?.toFixed(2)} at the start, at the end of the daemon runs median ${median(loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)}` +
      `${Math.max(...loads) > QUIET_LOAD ? ' — **the machine was not quiet: these figures show the harness works, not a verdict**' : ''}.`,
    '',
    table(o, rows, o.tricks),
  ].join('\n');
  log(`\n${section}\n`);
  if (o.write) {
    const md = join(ROOT, 'bench', 'RESULTS.md');
    if (!existsSync(md)) await writeFile(md, '# Benchmark results\n');
    await appendFile(md, `\n${section}\n`);
    log('written to bench/RESULTS.md');
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    process.stderr.write(`tricks: ${e instanceof Error ? e.message : String(e)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
