/**
 * A small sample of the fuzz properties (test/fuzz) inside `npm test`: every
 * target — each core decoder, each device profile, the line protocol encoder, topic
 * templates, the config loader — with a few hundred generated cases from a fixed seed.
 * No exception escapes, every rejection has a known reason and a message, and no case
 * takes longer than a generous ceiling (the machine is shared; the full run in
 * `npm run fuzz` uses the tight one). A failure names the seed to reproduce it.
 */
import { describe, expect, it } from 'vitest';
import { fuzzTargets, runTarget, targetSeed } from '../fuzz/properties.js';

const SEED = 0x5eed;
const RUNS = 200;
const CONFIG_RUNS = 40;
/** Catches a hang, not a slow shared CPU. */
const SAMPLE_CEILING_MS = 2000;

const targets = await fuzzTargets();

describe('fuzz sample (fixed seed)', () => {
  it('covers every decoder, every profile, the encoder, topic templates and the config loader', () => {
    const names = targets.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'decode-json',
        'decode-number',
        'decode-line-protocol',
        'rules (RuleSet.decode)',
        'encodeLine (round trip)',
        'topic templates',
        'config loader (parseConfigText)',
        'broker client id keys',
        'broker client id owners',
        'broker retained ledger',
        'broker login throttle',
      ]),
    );
    expect(names.filter((n) => n.startsWith('profile ')).length).toBeGreaterThanOrEqual(12);
    expect(targets.reduce((n, t) => n + t.fullRuns, 0)).toBeGreaterThanOrEqual(100_000);
  });

  it.each(targets.map((t, i) => [t.name, t, targetSeed(SEED, i)] as const))('%s', async (_name, t, seed) => {
    const runs = t.name.startsWith('config') ? CONFIG_RUNS : RUNS;
    let report;
    try {
      report = await runTarget(t, runs, seed, Math.max(t.maxMs, SAMPLE_CEILING_MS));
    } catch (e) {
      console.error(`fuzz sample failed: target "${t.name}", seed ${seed}`);
      throw e;
    }
    expect(report.cases).toBeGreaterThanOrEqual(runs);
    expect(Object.values(report.outcomes).reduce((a, b) => a + b, 0)).toBe(report.cases);
  });
});
