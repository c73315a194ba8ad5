/**
 * The systems under test, each in its own process, each reading `bench/<name>/#` from the
 * private mosquitto and writing to its own database in the private influxd:
 * edgeflux (its CLI), edgeflux with a window + deadband pipeline (shaped.ts), the bare
 * baseline (bench/baseline.ts) and, opt-in, Node-RED.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Runtime } from './build.js';
import { checkConfig, edgefluxConfig, journalFiles, startEdgeflux, unitNodeFlags, type EdgefluxSetup } from './edgeflux.js';
import { freePort } from './net.js';
import { startNodeRed } from './node-red.js';
import { removeDir, startProc, tempDir, type Proc } from './procs.js';
import { databaseOf } from './readings.js';
import type { Influxd, Mosquitto } from './servers.js';
import { EdgefluxProbe, SHAPED_PIPELINE } from './shaped.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type SystemName = 'edgeflux' | 'edgeflux-shaped' | 'baseline' | 'nodered';

export const SYSTEM_NAMES: readonly SystemName[] = ['baseline', 'edgeflux', 'edgeflux-shaped', 'nodered'];

export interface Sut {
  readonly name: SystemName;
  readonly proc: Proc;
  /** Spawn → ready (edgeflux: "edgeflux started" logged; others: subscribed), ms. */
  readonly readyMs: number;
  /** edgeflux's health listener (/spool, /metrics). */
  readonly probe?: EdgefluxProbe;
  /** Extra facts for the results (e.g. journal files written). */
  facts(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly qos: 0 | 1;
  /** Outage test: let a memory-mode system hold 1M readings. */
  readonly outage?: boolean;
  /** Node flags for the process (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
}

export interface SystemDef {
  readonly name: SystemName;
  readonly label: string;
  readonly db: string;
  /**
   * Writes window points, not readings: its steps are checked by shaped.ts (caught up,
   * points account for every reading). Runs in the QoS 1 block only; no outage, no profile.
   */
  readonly shaped?: boolean;
  start(o: StartOptions): Promise<Sut>;
}

export interface SystemsContext {
  readonly runtime: Runtime;
  readonly broker: Mosquitto;
  readonly influx: Influxd;
  readonly edgeflux: EdgefluxSetup;
  readonly edgefluxExtra?: Record<string, unknown>;
  readonly nodeRed?: { readonly red: string };
}

/** edgeflux as configured by the bench; `shaped`: plus the global window + deadband pipeline. */
function edgefluxDef(ctx: SystemsContext, shaped: boolean): SystemDef {
  const name: SystemName = shaped ? 'edgeflux-shaped' : 'edgeflux';
  const db = databaseOf(name);
  return {
    name,
    label: shaped ? `edgeflux (${ctx.edgeflux.mode}, window+deadband)` : `edgeflux (${ctx.edgeflux.mode})`,
    db,
    shaped,
    async start(o) {
      const dir = await tempDir('edgeflux-bench-sut-');
      const file = join(dir, 'edgeflux.yaml');
      const httpPort = await freePort();
      await writeFile(file, edgefluxConfig({
        setup: ctx.edgeflux, system: name, brokerUrl: ctx.broker.url, influxUrl: ctx.influx.url, db, qos: o.qos, dir, httpPort,
        memoryBytes: o.outage ? '512MiB' : undefined, extra: ctx.edgefluxExtra, ...(shaped ? { pipeline: SHAPED_PIPELINE } : {}),
      }));
      const problems = await checkConfig(ctx.runtime, file);
      if (problems) throw new Error(`edgeflux check refused the bench config:\n${problems}`);
      const { proc, readyMs } = await startEdgeflux(ctx.runtime, file, [...unitNodeFlags(ROOT), ...(o.nodeFlags ?? [])]);
      return {
        name,
        proc,
        readyMs,
        probe: new EdgefluxProbe(httpPort, 'bench'),
        async facts() {
          return ctx.edgeflux.mode === 'durable' ? `journal files: ${await journalFiles(dir)}` : '';
        },
        async stop() {
          await proc.stop(15_000);
          await removeDir(dir);
        },
      };
    },
  };
}

function baselineDef(ctx: SystemsContext): SystemDef {
  const db = databaseOf('baseline');
  return {
    name: 'baseline',
    label: 'bare baseline',
    db,
    async start(o) {
      const args = ['--mqtt', ctx.broker.url, '--topic', 'bench/baseline/#', '--qos', String(o.qos), '--influx', ctx.influx.url, '--db', db];
      const proc = startProc('baseline', process.execPath, [...(o.nodeFlags ?? []), ...ctx.runtime.script('bench/baseline.ts'), ...args]);
      const readyMs = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`baseline not ready within 30 s: ${proc.tail()}`)), 30_000);
        proc.onLine((l) => {
          if (l.trim() === 'ready') {
            clearTimeout(timer);
            resolve(Date.now() - proc.startedAt);
          }
        });
        void proc.exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`baseline exited (${code}): ${proc.tail()}`));
        });
      });
      return { name: 'baseline', proc, readyMs, facts: async () => '', stop: () => proc.stop(15_000) };
    },
  };
}

function nodeRedDef(ctx: SystemsContext, red: string): SystemDef {
  const db = databaseOf('nodered');
  return {
    name: 'nodered',
    label: 'Node-RED',
    db,
    async start(o) {
      const dir = await tempDir('edgeflux-bench-node-red-');
      const influxPort = Number(new URL(ctx.influx.url).port);
      const { proc, readyMs } = await startNodeRed({ red, dir, brokerPort: ctx.broker.port, influxPort, db, qos: o.qos });
      return {
        name: 'nodered',
        proc,
        readyMs,
        facts: async () => '',
        async stop() {
          await proc.stop(10_000);
          await removeDir(dir);
        },
      };
    },
  };
}

/** The systems to run, the baseline first (every ratio is against it); `shaped`: also edgeflux-shaped. */
export function makeSystems(ctx: SystemsContext, only?: readonly SystemName[], shaped = true): SystemDef[] {
  const all = [baselineDef(ctx), edgefluxDef(ctx, false), ...(shaped ? [edgefluxDef(ctx, true)] : []), ...(ctx.nodeRed ? [nodeRedDef(ctx, ctx.nodeRed.red)] : [])];
  return only ? all.filter((s) => only.includes(s.name)) : all;
}
