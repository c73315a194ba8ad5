/**
 * `npm run fuzz`: every fuzz target at its full case count (≥ 100,000 in total), then a
 * table per target: cases run, outcomes (accepted / rejections by reason), the slowest
 * case. Exit code 1 when a property fails (the message names the seed to reproduce it).
 *
 * Environment: FUZZ_SEED (base seed, default: random), FUZZ_ONLY (a target name
 * substring), FUZZ_SCALE (multiplies every case count, e.g. 0.1 for a quick run).
 */
import { fuzzTargets, runTarget, targetSeed, type TargetReport } from './properties.js';

const base = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const only = process.env.FUZZ_ONLY;
const scale = Number(process.env.FUZZ_SCALE ?? 1);

const all = await fuzzTargets();
const chosen = all.map((t, i) => ({ t, seed: targetSeed(base, i) })).filter(({ t }) => only === undefined || t.name.includes(only));
console.log(`edgeflux fuzz: ${chosen.length} targets, base seed ${base}${only ? `, only "${only}"` : ''}`);
const reports: TargetReport[] = [];
let failed = 0;
const t0 = performance.now();
for (const { t, seed } of chosen) {
  const runs = Math.max(1, Math.round(t.fullRuns * scale));
  const s0 = performance.now();
  process.stdout.write(`\n… ${t.name}: ${runs} cases`);
  try {
    const r = await runTarget(t, runs, only !== undefined && process.env.FUZZ_SEED !== undefined ? base : seed);
    reports.push(r);
    print(r, performance.now() - s0, t.maxMs);
  } catch (e) {
    failed++;
    console.log(`\n✗ ${t.name}\n${e instanceof Error ? e.message : String(e)}`);
  }
}
const total = reports.reduce((n, r) => n + r.cases, 0);
console.log(`\n${total} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s over ${reports.length} targets; ${failed} target(s) failed.`);
process.exitCode = failed > 0 ? 1 : 0;

function print(r: TargetReport, ms: number, maxMs: number): void {
  console.log(`\n✓ ${r.name}: ${r.cases} cases in ${(ms / 1000).toFixed(1)} s (seed ${r.seed})`);
  for (const [k, n] of Object.entries(r.outcomes)) console.log(`    ${k.padEnd(40)} ${String(n).padStart(7)}`);
  console.log(`    slowest: ${r.slowest.ms.toFixed(2)} ms (ceiling ${maxMs} ms; decoders: + ${maxMs} ms per 64 KiB of input) on ${r.slowest.input}`);
  if (r.unplaced.count > 0) console.log(`    rejections without the promised place: ${r.unplaced.count}, e.g. ${r.unplaced.example}`);
}
