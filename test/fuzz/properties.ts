/**
 * The fuzz properties, shared by `npm run fuzz` (test/fuzz/run.ts, the full
 * run) and the sample inside `npm test` (test/unit/fuzz-sample.test.ts).
 *
 * Every target asserts: no exception escapes; each input is decoded/parsed within a
 * per-case time ceiling; every rejection is a value with a known reason (DecodeReason)
 * and a non-empty message (config: issues with file, line >= 0, key, message).
 */
import { brokerTargets } from './targets-broker.js';
import { configTargets } from './targets-config.js';
import { decoderTargets } from './targets-decoders.js';
import { encodingTargets } from './targets-encoding.js';
import { profileTargets } from './targets-profiles.js';
import type { FuzzTarget, TargetReport } from './check.js';

export type { FuzzTarget, TargetReport, RunOptions } from './check.js';

/** Every fuzz target: the core decoders, each device profile, the encoder, topic templates, the config loader, the broker's session/retained bookkeeping. */
export async function fuzzTargets(): Promise<FuzzTarget[]> {
  return [...decoderTargets(), ...(await profileTargets()), ...encodingTargets(), ...configTargets(), ...brokerTargets()];
}

/**
 * Runs one target `numRuns` times from `seed` (the per-case ceiling is the target's
 * own unless `maxMs` is given). A failure rethrows with the target, the seed and how to
 * reproduce it.
 */
export async function runTarget(t: FuzzTarget, numRuns: number, seed: number, maxMs = t.maxMs): Promise<TargetReport> {
  try {
    return await t.run({ numRuns, seed, maxMs });
  } catch (e) {
    // fast-check prints the whole counterexample: clip each line (payloads reach 256 KiB).
    const msg = (e instanceof Error ? e.message : String(e))
      .split('\n')
      .map((l) => (l.length > 1500 ? `${l.slice(0, 1500)}… (${l.length} chars)` : l))
      .join('\n');
    throw new Error(`fuzz target "${t.name}" failed with seed ${seed} (reproduce: FUZZ_SEED=${seed} FUZZ_ONLY="${t.name}" npm run fuzz)\n${msg}`, { cause: e });
  }
}

/** A seed per target derived from one base seed, so targets do not share a stream. */
export function targetSeed(base: number, index: number): number {
  return (base + index * 7919) | 0;
}
