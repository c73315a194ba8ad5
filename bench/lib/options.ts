/** Command-line flags of `npm run bench` and the settings of a quick and a full run. */
import { parseArgs } from 'node:util';
import type { PlanOptions } from './plan.js';
import { SERIAL_RATE } from './matrix.js';
import { SYSTEM_NAMES, type SystemName } from './systems.js';

/** `--quick`: one 2.5 s step at each fixed rate, no climb (the whole-run plan and the matrix cells alike). */
const QUICK_PLAN: PlanOptions = {
  reps: 1,
  stepMs: 2500,
  fixedRates: [10_000, 20_000],
  climbFactor: 1.6,
  maxClimbSteps: 0,
  maxBisectSteps: 0,
  resolution: 0.2,
  rateCap: 150_000,
  warmupRate: 5000,
  warmupMs: 1500,
};

export const USAGE = `npm run bench [-- flags]   end-to-end benchmark of edgeflux against a bare baseline (and Node-RED)

  --quick               a representative subset of the workload matrix (7 cells), fixed rates
                        only, short steps, 1 repetition; no ceilings, outage, shaped or profile
                        (< 5 min; indicative only)
  --cells LIST          only the matrix cells whose id starts with one of these
                        (e.g. mqtt/flat,embedded/flat/100,serial; ids: mqtt/<payload>/<devices>/q<qos>,
                        embedded/flat/<devices>/w<window>, serial/flat/4)
  --latency-messages N  sequential QoS 1 publishes per broker (default 2000; quick 300; 0: skip)
  --node-red            also measure Node-RED (installs node-red 4 + node-red-contrib-influxdb
                        into bench/.work/node-red with npm on first use)
  --only LIST           systems to run: baseline,edgeflux,edgeflux-shaped,nodered (default: all enabled)
  --no-shaped           leave out edgeflux-shaped (edgeflux + window/deadband pipeline, QoS 1 only)
  --qos LIST            0,1 (default both)
  --spool MODE          edgeflux spool mode when the build has one: durable (default) | memory
  --edgeflux-extra FILE YAML merged over the generated edgeflux config (top-level keys)
  --devices N           device topics (default 100)
  --outage-readings N   readings published while influxd is down (default 1000000; quick 100000)
  --outage-reps N       outage runs of edgeflux and the baseline, each followed by another
                        1-in-flight POST ceiling; medians are compared (default 3; quick 1)
  --skip-ceilings, --skip-outage, --profile, --no-profile (profile: on in full runs)
  --tsx                 run the TypeScript through tsx instead of transpiling to bench/.work/js
  --no-results          do not write bench/RESULTS.md or charts (for trying the bench out)
  --edge                instead of the above: the footprint of examples/edgeflux.yaml (idle wake-ups,
                        CPU, disk writes and RSS; write bytes per reading at 2k/s; first write after a
                        60 s outage), --runs N (default 3), --idle-seconds N (90), --outage-seconds N (60);
                        a targets table is appended to bench/RESULTS.md (< 10 min)
  --edge-outage         influxd down --outage-seconds N (default 3600) at --rate N readings/s (2000):
                        lost, RSS start/max, drain rate afterwards, spool bytes against the prediction
  -h, --help

Needs Linux (/proc), mosquitto and influxd 1.x (Debian: apt-get install mosquitto influxdb).
Appends a dated section to bench/RESULTS.md and writes charts to bench/results/; the raw
figures of every step go to bench/.work/results/ (git-ignored).`;

export interface BenchOptions {
  readonly quick: boolean;
  readonly nodeRed: boolean;
  readonly only?: SystemName[];
  /** Run edgeflux-shaped (edgeflux with the window + deadband pipeline). */
  readonly shaped: boolean;
  readonly qos: (0 | 1)[];
  readonly spool: 'durable' | 'memory';
  readonly edgefluxExtra?: string;
  readonly devices: number;
  readonly ceilings: boolean;
  readonly outage: boolean;
  readonly outageReadings: number;
  /** Outage runs per system (Node-RED: one), each followed by a 1-in-flight POST ceiling. */
  readonly outageReps: number;
  readonly outageRate: number;
  readonly profile: boolean;
  readonly profileMs: number;
  readonly tsx: boolean;
  readonly writeResults: boolean;
  readonly drainLimitMs: number;
  readonly brokerCeilingCount: { readonly 0: number; readonly 1: number };
  readonly postCeilingPoints: number;
  readonly postConcurrency: number[];
  readonly plan: PlanOptions;
  /** The plan of the workload matrix's cells. */
  readonly matrixPlan: PlanOptions;
  /** Serial cells: their one realistic rate. */
  readonly serialPlan: PlanOptions;
  /** Matrix cells to run (id prefixes); all when absent. */
  readonly cells?: string[];
  readonly latencyMessages: number;
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      cells: { type: 'string' },
      'latency-messages': { type: 'string' },
      'node-red': { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-shaped': { type: 'boolean', default: false },
      qos: { type: 'string', default: '0,1' },
      spool: { type: 'string', default: 'durable' },
      'edgeflux-extra': { type: 'string' },
      devices: { type: 'string', default: '100' },
      'outage-readings': { type: 'string' },
      'outage-reps': { type: 'string' },
      'skip-ceilings': { type: 'boolean', default: false },
      'skip-outage': { type: 'boolean', default: false },
      profile: { type: 'boolean' },
      'no-profile': { type: 'boolean', default: false },
      tsx: { type: 'boolean', default: false },
      'no-results': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) return 'help';
  const quick = v.quick;
  const only = v.only?.split(',').map((s) => s.trim()) as SystemName[] | undefined;
  for (const s of only ?? []) if (!SYSTEM_NAMES.includes(s)) throw new Error(`--only: unknown system ${s} (${SYSTEM_NAMES.join(', ')})`);
  if (v['no-shaped'] && only?.includes('edgeflux-shaped')) throw new Error('--only names edgeflux-shaped, --no-shaped leaves it out: pick one');
  const qos = v.qos.split(',').map((s) => Number(s.trim()));
  if (qos.some((q) => q !== 0 && q !== 1)) throw new Error('--qos: 0, 1 or 0,1');
  if (v.spool !== 'durable' && v.spool !== 'memory') throw new Error('--spool: durable or memory');
  const devices = Number(v.devices);
  if (!Number.isInteger(devices) || devices < 1 || devices > 10_000) throw new Error('--devices: 1..10000');
  const outageReadings = v['outage-readings'] !== undefined ? Number(v['outage-readings']) : quick ? 100_000 : 1_000_000;
  if (!Number.isInteger(outageReadings) || outageReadings < 1000 || outageReadings > 5_000_000) throw new Error('--outage-readings: 1000..5000000');
  const outageReps = v['outage-reps'] !== undefined ? Number(v['outage-reps']) : quick ? 1 : 3;
  const latencyMessages = v['latency-messages'] !== undefined ? Number(v['latency-messages']) : quick ? 300 : 2000;
  if (!Number.isInteger(latencyMessages) || latencyMessages < 0 || latencyMessages > 100_000) throw new Error('--latency-messages: 0..100000');
  if (!Number.isInteger(outageReps) || outageReps < 1 || outageReps > 9) throw new Error('--outage-reps: 1..9');
  return {
    quick,
    nodeRed: v['node-red'] || (only?.includes('nodered') ?? false),
    only,
    shaped: !v['no-shaped'] && !quick,
    qos: qos as (0 | 1)[],
    spool: v.spool,
    edgefluxExtra: v['edgeflux-extra'],
    devices,
    ceilings: !v['skip-ceilings'] && !quick,
    outage: !v['skip-outage'] && !quick,
    outageReadings,
    outageReps,
    outageRate: 20_000,
    profile: v['no-profile'] ? false : (v.profile ?? !quick),
    profileMs: quick ? 8000 : 15_000,
    tsx: v.tsx,
    writeResults: !v['no-results'],
    drainLimitMs: 3000,
    brokerCeilingCount: quick ? { 0: 150_000, 1: 60_000 } : { 0: 600_000, 1: 300_000 },
    postCeilingPoints: quick ? 200_000 : 1_000_000,
    postConcurrency: quick ? [1] : [1, 2],
    // The targets are read at 10k/s (CPU) and 20k/s (RSS); the full run then climbs to the max zero-loss rate.
    plan: quick
      ? QUICK_PLAN
      : {
          reps: 3,
          stepMs: 8000,
          fixedRates: [10_000, 20_000],
          climbFactor: 1.25,
          maxClimbSteps: 6,
          maxBisectSteps: 2,
          resolution: 0.08,
          rateCap: 150_000,
          warmupRate: 5000,
          warmupMs: 3000,
        },
    // The matrix's cells: CPU at 10k/s three times (its median is the target), the 20k/s
    // peak RSS once (VmHWM is a maximum already), 5 s steps, and edgeflux stepped straight to
    // 0.9× the reference's max instead of a search of its own: about half the steps.
    matrixPlan: quick
      ? QUICK_PLAN
      : {
          reps: 3,
          fixedReps: [3, 1],
          stepMs: 5000,
          fixedRates: [10_000, 20_000],
          climbFactor: 1.3,
          maxClimbSteps: 6,
          maxBisectSteps: 2,
          resolution: 0.1,
          rateCap: 150_000,
          warmupRate: 5000,
          warmupMs: 2000,
          stopAtFraction: 0.9,
        },
    serialPlan: {
      reps: quick ? 1 : 3,
      stepMs: quick ? 3000 : 20_000,
      fixedRates: [SERIAL_RATE],
      climbFactor: 1,
      maxClimbSteps: 0,
      maxBisectSteps: 0,
      resolution: 1,
      rateCap: SERIAL_RATE,
      warmupRate: SERIAL_RATE,
      warmupMs: quick ? 1000 : 2000,
    },
    ...(v.cells
      ? {
          cells: v.cells
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        }
      : {}),
    latencyMessages,
  };
}
