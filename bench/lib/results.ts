/**
 * Everything one run measured, the figures derived from it (medians per system, QoS and
 * rate) and the reference workload's targets, each with its verdict (PASS / MISS / n/a).
 */
import type { BrokerCeiling, PostCeiling } from './ceilings.js';
import type { MatrixResult } from './matrix.js';
import type { OutageResult } from './outage.js';
import { atRate, type SystemQosResult } from './plan.js';
import type { ProfileResult } from './profile.js';

export interface RunInfo {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly quick: boolean;
  readonly command: string;
  readonly machine: string[];
  readonly versions: string[];
  readonly method: string[];
  readonly notes: string[];
  readonly edgefluxMode: 'durable' | 'memory';
}

export interface BenchResults {
  readonly info: RunInfo;
  readonly brokerCeilings: BrokerCeiling[];
  readonly postCeilings: PostCeiling[];
  readonly blocks: SystemQosResult[];
  readonly outage: OutageResult[];
  readonly profile?: ProfileResult;
  readonly charts: string[];
  /** Raw edgeflux and edgeflux-shaped side by side (QoS 1, `point` payload): the shaped target's pair. */
  readonly shaped?: SystemQosResult[];
  /** The workload matrix: per cell, its blocks and targets. */
  readonly matrix?: MatrixResult;
}

/** A system's outage runs: how many, the median drain rate of those that drained, the readings lost in all. */
export function outageOf(res: BenchResults, system: string): { readonly runs: number; readonly drain: number | undefined; readonly lost: number } {
  const runs = res.outage.filter((o) => o.system === system);
  const rates = runs.flatMap((o) => (o.drainRate === undefined ? [] : [o.drainRate]));
  return { runs: runs.length, drain: median(rates), lost: runs.reduce((n, o) => n + o.lost, 0) };
}

/** The median of the 1-in-flight POST ceilings (at the start and after each outage run). */
export function postCeiling1(res: BenchResults): number | undefined {
  return median(res.postCeilings.filter((p) => p.concurrency === 1).map((p) => p.rate));
}

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

export interface RateFigures {
  readonly rate: number;
  readonly reps: number;
  /** Steps left out because the load generator could not keep the rate. */
  readonly limited: number;
  readonly sustained: number;
  readonly cpu: number | undefined;
  readonly rss: number | undefined;
  readonly drainMs: number | undefined;
  readonly lost: number;
}

/** Medians at one rate (generator-limited steps left out). */
export function figuresAt(r: SystemQosResult, rate: number): RateFigures {
  const s = atRate(r, rate);
  return {
    rate,
    reps: s.length,
    limited: r.steps.filter((x) => x.rate === rate && x.generatorLimited).length,
    sustained: s.filter((x) => x.sustained).length,
    cpu: median(s.map((x) => x.cpuUsPerReading)),
    rss: median(s.map((x) => x.peakRssMb)),
    drainMs: median(s.filter((x) => x.drainMs !== undefined).map((x) => x.drainMs!)),
    lost: s.reduce((n, x) => n + x.lost, 0),
  };
}

export function ratesOf(r: SystemQosResult): number[] {
  return [...new Set(r.steps.map((s) => s.rate))].sort((a, b) => a - b);
}

export function block(res: BenchResults, system: string, qos: 0 | 1): SystemQosResult | undefined {
  return res.blocks.find((b) => b.system === system && b.qos === qos);
}

export interface TargetRow {
  readonly target: string;
  readonly edgeflux: string;
  readonly reference: string;
  readonly ratio: string;
  readonly needed: string;
  readonly verdict: 'PASS' | 'MISS' | 'n/a';
  readonly why?: string;
}

const fmt = (x: number | undefined, d = 0): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const rate = (x: number | undefined): string => (x === undefined ? '—' : `${Math.round(x).toLocaleString('en-US')}/s`);

function ratioRow(
  target: string,
  e: number | undefined,
  b: number | undefined,
  unit: (x: number | undefined) => string,
  needed: string,
  ok: (r: number) => boolean,
  why?: string,
): TargetRow {
  const r = e !== undefined && b !== undefined && b > 0 ? e / b : undefined;
  const verdict = r === undefined ? 'n/a' : ok(r) ? 'PASS' : 'MISS';
  return { target, edgeflux: unit(e), reference: unit(b), ratio: r === undefined ? '—' : `${r.toFixed(2)}×`, needed, verdict, ...(why ? { why } : {}) };
}

/**
 * edgeflux with the window + deadband pipeline against raw edgeflux, QoS 1, same run: max
 * sustained rate; when either has none, readings per CPU-second at 10k/s (raw CPU per
 * reading over shaped), so ≥ 0.8 means the pipeline costs at most 1.25× the CPU.
 */
function shapedRow(res: BenchResults, us: (x: number | undefined) => string): TargetRow {
  const target = 'with a 1-minute window + deadband pipeline on every series';
  const needed = '≥ 0.80× raw edgeflux';
  const pair = res.shaped ? { ...res, blocks: res.shaped } : res;
  const s = block(pair, 'edgeflux-shaped', 1);
  const e = block(pair, 'edgeflux', 1);
  if (!s || !e) {
    const why = `not measured: ${!s ? 'edgeflux-shaped' : 'raw edgeflux'} did not run at QoS 1 (--no-shaped, --only or --qos)`;
    return { target, edgeflux: '—', reference: '—', ratio: '—', needed, verdict: 'n/a', why };
  }
  const fs = figuresAt(s, 10_000);
  const fe = figuresAt(e, 10_000);
  const cpu = `CPU per reading at 10k/s: ${us(fs.cpu)} shaped, ${us(fe.cpu)} raw`;
  if (s.maxRate > 0 && e.maxRate > 0) {
    const capped = [s, e].filter((b) => /could go no faster|no failure found/.test(b.maxNote)).map((b) => (b === s ? 'shaped' : 'raw'));
    const why = [cpu, capped.length ? `max not reached (${capped.join(', ')}): the climb stopped before a failure` : ''].filter(Boolean).join('; ');
    return ratioRow(`${target}: max sustained rate, QoS 1`, s.maxRate, e.maxRate, rate, needed, (r) => r >= 0.8, why);
  }
  const row = ratioRow(
    `${target}: readings per CPU-second at 10k/s, QoS 1`,
    fe.cpu,
    fs.cpu,
    us,
    needed,
    (r) => r >= 0.8,
    `no max sustained rate to compare (shaped ${s.maxRate}/s, raw ${e.maxRate}/s)`,
  );
  return { ...row, edgeflux: us(fs.cpu), reference: us(fe.cpu) };
}

/** The reference workload's targets (rate, CPU, RSS, shaped pipeline, drain, start time) against this run's figures. */
export function evaluateTargets(res: BenchResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const us = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(1)} µs`);
  for (const qos of [0, 1] as const) {
    const e = block(res, 'edgeflux', qos);
    const b = block(res, 'baseline', qos);
    if (!e || !b) continue;
    rows.push(ratioRow(`max zero-loss sustained rate, QoS ${qos}`, e.maxRate, b.maxRate, rate, '≥ 0.90× baseline', (r) => r >= 0.9));
  }
  for (const [qos, limit] of [
    [0, 1.2],
    [1, 1.3],
  ] as const) {
    const e = block(res, 'edgeflux', qos);
    const b = block(res, 'baseline', qos);
    if (!e || !b) continue;
    const fe = figuresAt(e, 10_000);
    const fb = figuresAt(b, 10_000);
    const why =
      fe.sustained < fe.reps || fb.sustained < fb.reps
        ? `sustained reps at 10k/s: edgeflux ${fe.sustained}/${fe.reps}, baseline ${fb.sustained}/${fb.reps}`
        : undefined;
    rows.push(ratioRow(`CPU per reading at 10k/s, QoS ${qos}`, fe.cpu, fb.cpu, us, `≤ ${limit.toFixed(2)}× baseline`, (r) => r <= limit, why));
  }
  for (const qos of [0, 1] as const) {
    const e = block(res, 'edgeflux', qos);
    const nr = block(res, 'nodered', qos);
    if (!e || !nr) continue;
    rows.push(
      ratioRow(
        `CPU per reading at 10k/s vs Node-RED, QoS ${qos} (implied)`,
        figuresAt(e, 10_000).cpu,
        figuresAt(nr, 10_000).cpu,
        us,
        '≤ 0.50× Node-RED',
        (r) => r <= 0.5,
      ),
    );
  }
  for (const qos of [0, 1] as const) {
    const e = block(res, 'edgeflux', qos);
    if (!e) continue;
    const f = figuresAt(e, 20_000);
    const b = block(res, 'baseline', qos);
    const fb = b ? figuresAt(b, 20_000) : undefined;
    rows.push({
      target: `peak RSS at 20k/s, QoS ${qos}`,
      edgeflux: f.rss === undefined ? '—' : `${fmt(f.rss)} MB`,
      reference: fb?.rss === undefined ? '—' : `${fmt(fb.rss)} MB (baseline)`,
      ratio: f.rss !== undefined && fb?.rss ? `${(f.rss / fb.rss).toFixed(2)}×` : '—',
      needed: '≤ 100 MB',
      verdict: f.rss === undefined ? 'n/a' : f.rss <= 100 ? 'PASS' : 'MISS',
      ...(f.reps > 0 && f.sustained < f.reps ? { why: `edgeflux sustained ${f.sustained}/${f.reps} reps at 20k/s` } : {}),
    });
  }
  rows.push(shapedRow(res, us));
  const eo = outageOf(res, 'edgeflux');
  const post1 = postCeiling1(res);
  if (eo.runs > 0 && post1 !== undefined) {
    const bo = outageOf(res, 'baseline');
    const vsBaseline =
      bo.drain && eo.drain
        ? `the baseline drained the same backlog at ${Math.round(bo.drain).toLocaleString('en-US')} pts/s: edgeflux ${(eo.drain / bo.drain).toFixed(2)}× of it`
        : undefined;
    const runs = eo.runs > 1 ? `medians of ${eo.runs} drains and ${res.postCeilings.filter((p) => p.concurrency === 1).length} ceilings` : undefined;
    const why = eo.lost > 0 ? `${eo.lost} readings lost during the outage` : [runs, vsBaseline].filter(Boolean).join('; ');
    const row = ratioRow(
      'backlog drain after an outage',
      eo.drain,
      post1,
      (x) => (x === undefined ? '—' : `${Math.round(x).toLocaleString('en-US')} pts/s`),
      '≥ 0.70× batched-POST ceiling',
      (r) => r >= 0.7,
      why || undefined,
    );
    rows.push({ ...row, reference: `${row.reference} (ceiling, 1 in flight)`, verdict: eo.lost > 0 ? 'MISS' : row.verdict });
  }
  const ready = median(res.blocks.filter((b) => b.system === 'edgeflux').map((b) => b.readyMs));
  rows.push({
    target: 'start to ready ("edgeflux started" logged)',
    edgeflux: ready === undefined ? '—' : `${(ready / 1000).toFixed(2)} s`,
    reference: '—',
    ratio: '—',
    needed: '< 1.5 s',
    verdict: ready === undefined ? 'n/a' : ready < 1500 ? 'PASS' : 'MISS',
  });
  return rows;
}
