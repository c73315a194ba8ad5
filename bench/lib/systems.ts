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
import { checkConfig, edgefluxConfig, journalFiles, startEdgeflux, unitEnvironment, unitNodeFlags, type EdgefluxSetup } from './edgeflux.js';
import { oldSpaceMiBFor } from '../../src/journal/memory-budget.js';
import { freePort } from './net.js';
import { startNodeRed } from './node-red.js';
import { removeDir, startProc, tempDir, type Proc } from './procs.js';
import { databaseOf } from './readings.js';
import type { Influxd, Mosquitto } from './servers.js';
import { startSerialPorts, type SerialPorts } from './serial-load.js';
import { EdgefluxProbe, SHAPED_PIPELINE } from './shaped.js';
import type { Workload } from './workload.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type SystemName = 'edgeflux' | 'edgeflux-shaped' | 'baseline' | 'nodered' | 'edgeflux-embedded' | 'edgeflux-serial';

export const SYSTEM_NAMES: readonly SystemName[] = ['baseline', 'edgeflux', 'edgeflux-shaped', 'nodered', 'edgeflux-embedded', 'edgeflux-serial'];

export interface Sut {
  readonly name: SystemName;
  readonly proc: Proc;
  /** Spawn → ready (edgeflux: "edgeflux started" logged; others: subscribed), ms. */
  readonly readyMs: number;
  /** edgeflux's health listener (/spool, /metrics). */
  readonly probe?: EdgefluxProbe;
  /** Where the load generator's connection pool publishes (embedded-broker cells): this system's broker port. */
  readonly publishPort?: number;
  /** More processes whose CPU and RSS count as this system's (the mosquitto an MQTT client needs, in embedded-broker cells). */
  readonly meterAlso?: readonly number[];
  /** Feeds a step itself instead of the MQTT load generator (serial ports). */
  readonly feed?: SerialPorts['feed'];
  /** The system's own directory (edgeflux: its config and spool), for disk-use figures. */
  readonly dir?: string;
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
  /** The cell's workload (default: the `point` payload through mosquitto). */
  readonly workload?: Workload;
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

/**
 * How edgeflux takes the readings in: its MQTT client on the private mosquitto (`mqtt`; in
 * embedded-broker cells as the reference "mosquitto + edgeflux's MQTT client", the load
 * publishing to mosquitto over the same connection pool and mosquitto's CPU and RSS counted
 * with edgeflux's), its embedded broker, or serial ports.
 */
export type EdgefluxVia = 'mqtt' | 'mqtt+mosquitto' | 'embedded' | 'serial';

/** The memory-mode spool of an outage run holds this much (MiB): 1M readings. */
const OUTAGE_MEMORY_MIB = 512;

/** Serial cells: this many ports (socat ptys), the readings spread over them. */
export const SERIAL_PORTS = 4;

/** edgeflux as configured by the bench; `shaped`: plus the global window + deadband pipeline. */
export function edgefluxDef(ctx: SystemsContext, shaped: boolean, via: EdgefluxVia = 'mqtt'): SystemDef {
  const name: SystemName = shaped ? 'edgeflux-shaped' : via === 'embedded' ? 'edgeflux-embedded' : via === 'serial' ? 'edgeflux-serial' : 'edgeflux';
  const db = databaseOf(name);
  const mode = ctx.edgeflux.mode;
  const label = shaped
    ? `edgeflux (${mode}, window+deadband)`
    : via === 'embedded'
      ? `edgeflux (${mode}, embedded broker)`
      : via === 'mqtt+mosquitto'
        ? `mosquitto + edgeflux (${mode}, MQTT client)`
        : via === 'serial'
          ? `edgeflux (${mode}, serial)`
          : `edgeflux (${mode})`;
  return {
    name,
    label,
    db,
    shaped,
    async start(o) {
      const dir = await tempDir('edgeflux-bench-sut-');
      const file = join(dir, 'edgeflux.yaml');
      const httpPort = await freePort();
      const embeddedPort = via === 'embedded' ? await freePort() : undefined;
      const serial = via === 'serial' ? await startSerialPorts(SERIAL_PORTS) : undefined;
      try {
        await writeFile(
          file,
          edgefluxConfig({
            setup: ctx.edgeflux,
            system: name,
            brokerUrl: ctx.broker.url,
            influxUrl: ctx.influx.url,
            db,
            qos: o.qos,
            dir,
            httpPort,
            memoryBytes: o.outage ? `${OUTAGE_MEMORY_MIB}MiB` : undefined,
            extra: ctx.edgefluxExtra,
            ...(shaped ? { pipeline: SHAPED_PIPELINE } : {}),
            payload: o.workload?.payload ?? 'point',
            ...(embeddedPort !== undefined ? { embeddedPort, embeddedConnections: o.workload?.connections ?? 1 } : {}),
            ...(serial ? { serialPorts: serial.ports } : {}),
          }),
        );
        const problems = await checkConfig(ctx.runtime, file);
        if (problems) throw new Error(`edgeflux check refused the bench config:\n${problems}`);
        // A memory spool that holds the outage's readings needs more heap than the unit allows
        // (edgeflux refuses to start otherwise): the later flag wins.
        const heap = o.outage && ctx.edgeflux.mode === 'memory' ? [`--max-old-space-size=${oldSpaceMiBFor(OUTAGE_MEMORY_MIB * 1024 * 1024)}`] : [];
        const { proc, readyMs } = await startEdgeflux(ctx.runtime, file, [...unitNodeFlags(ROOT), ...heap, ...(o.nodeFlags ?? [])], unitEnvironment(ROOT));
        return {
          name,
          proc,
          readyMs,
          probe: new EdgefluxProbe(httpPort, 'bench'),
          dir,
          ...(embeddedPort !== undefined ? { publishPort: embeddedPort } : {}),
          ...(via === 'mqtt+mosquitto' ? { publishPort: ctx.broker.port, meterAlso: [ctx.broker.proc.pid] } : {}),
          ...(serial ? { feed: serial.feed } : {}),
          async facts() {
            return ctx.edgeflux.mode === 'durable' ? `journal files: ${await journalFiles(dir)}` : '';
          },
          async stop() {
            await proc.stop(15_000);
            await serial?.stop();
            await removeDir(dir);
          },
        };
      } catch (e) {
        await serial?.stop();
        throw e;
      }
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
      const args = [
        '--mqtt',
        ctx.broker.url,
        '--topic',
        'bench/baseline/#',
        '--qos',
        String(o.qos),
        '--influx',
        ctx.influx.url,
        '--db',
        db,
        '--payload',
        o.workload?.payload ?? 'point',
      ];
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
  const all = [
    baselineDef(ctx),
    edgefluxDef(ctx, false),
    ...(shaped ? [edgefluxDef(ctx, true)] : []),
    ...(ctx.nodeRed ? [nodeRedDef(ctx, ctx.nodeRed.red)] : []),
  ];
  return only ? all.filter((s) => only.includes(s.name)) : all;
}
