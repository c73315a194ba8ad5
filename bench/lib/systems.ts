/**
 * The systems under test, each in its own process, each reading `bench/<name>/#` from the
 * private mosquitto and writing to its own database in the private influxd:
 * edgeflux (its CLI), the bare baseline (bench/baseline.ts) and, opt-in, Node-RED.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from './build.js';
import { checkConfig, edgefluxConfig, journalFiles, startEdgeflux, type EdgefluxSetup } from './edgeflux.js';
import { startNodeRed } from './node-red.js';
import { removeDir, startProc, tempDir, type Proc } from './procs.js';
import { databaseOf } from './readings.js';
import type { Influxd, Mosquitto } from './servers.js';

export type SystemName = 'edgeflux' | 'baseline' | 'nodered';

export interface Sut {
  readonly name: SystemName;
  readonly proc: Proc;
  /** Spawn → ready (edgeflux: "edgeflux started" logged; others: subscribed), ms. */
  readonly readyMs: number;
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

function edgefluxDef(ctx: SystemsContext): SystemDef {
  const db = databaseOf('edgeflux');
  return {
    name: 'edgeflux',
    label: `edgeflux (${ctx.edgeflux.mode})`,
    db,
    async start(o) {
      const dir = await tempDir('edgeflux-bench-sut-');
      const file = join(dir, 'edgeflux.yaml');
      await writeFile(file, edgefluxConfig({
        setup: ctx.edgeflux, brokerUrl: ctx.broker.url, influxUrl: ctx.influx.url, db, qos: o.qos, dir,
        memoryBytes: o.outage ? '512MiB' : undefined, extra: ctx.edgefluxExtra,
      }));
      const problems = await checkConfig(ctx.runtime, file);
      if (problems) throw new Error(`edgeflux check refused the bench config:\n${problems}`);
      const { proc, readyMs } = await startEdgeflux(ctx.runtime, file, o.nodeFlags);
      return {
        name: 'edgeflux',
        proc,
        readyMs,
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

/** The systems to run, the baseline first (every ratio is against it). */
export function makeSystems(ctx: SystemsContext, only?: readonly SystemName[]): SystemDef[] {
  const all = [baselineDef(ctx), edgefluxDef(ctx), ...(ctx.nodeRed ? [nodeRedDef(ctx, ctx.nodeRed.red)] : [])];
  return only ? all.filter((s) => only.includes(s.name)) : all;
}
