/**
 * edgeflux as a system under test: its CLI (`run --config <temp yaml>`) in its own process,
 * an `mqtt:` source on the private mosquitto, an `influxdb_v1` output, JSON readings with
 * their own timestamps (raw passthrough: no pipeline operators).
 *
 * The journal is being built while this bench is: the config is written from the
 * schema edgeflux ships (configJsonSchema), so it runs against whatever edgeflux does —
 * `spool: { mode: durable, dir }` when the schema has it, else edgeflux's in-memory queue —
 * and the results say which it was (and whether journal files appeared).
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Runtime } from './build.js';
import { startProc, type Proc } from './procs.js';
import { edgefluxDecoding, type PayloadKind } from './workload.js';

export interface EdgefluxSetup {
  /** `durable` when the schema has a spool mode and the config checks; else `memory`. */
  readonly mode: 'durable' | 'memory';
  /** What was found, for the results. */
  readonly note: string;
  /** Has `spool:` (journal era) rather than `outputs[].max_pending` (foundation). */
  readonly hasSpool: boolean;
  readonly hasMaxPending: boolean;
}

type Json = Record<string, any>;

function props(node: Json | undefined): Json {
  if (!node) return {};
  if (node.properties) return node.properties as Json;
  for (const k of ['anyOf', 'oneOf', 'allOf']) {
    const alts = node[k] as Json[] | undefined;
    const withProps = alts?.find((a) => a.properties);
    if (withProps) return withProps.properties as Json;
  }
  return {};
}

function enumHas(node: Json | undefined, v: string): boolean {
  if (!node) return false;
  if (Array.isArray(node.enum) && node.enum.includes(v)) return true;
  if (node.const === v) return true;
  return ['anyOf', 'oneOf'].some((k) => (node[k] as Json[] | undefined)?.some((a) => enumHas(a, v)));
}

/** Reads edgeflux's JSON Schema to see which durability settings this build has. */
export async function inspectEdgeflux(runtime: Runtime, wantMode: 'durable' | 'memory'): Promise<EdgefluxSetup> {
  const mod = (await import(runtime.module('src/config/schema.ts'))) as { configJsonSchema(): Json };
  const top = props(mod.configJsonSchema());
  const spool = props(top.spool);
  const hasSpool = enumHas(spool.mode, 'durable');
  const outputs = top.outputs?.items as Json | undefined;
  const hasMaxPending = JSON.stringify(outputs ?? {}).includes('"max_pending"');
  const mode = hasSpool ? wantMode : 'memory';
  const note = hasSpool
    ? `spool.mode: ${mode}${mode === 'durable' ? ' (journal on disk, default sync policy)' : ''}`
    : 'no spool/journal settings in this build: in-memory output queue (max_pending)';
  return { mode, note, hasSpool, hasMaxPending };
}

export interface EdgefluxConfigArgs {
  readonly setup: EdgefluxSetup;
  /** The system's name: its topics `bench/<system>/#` and its MQTT client id. */
  readonly system: string;
  readonly brokerUrl: string;
  readonly influxUrl: string;
  readonly db: string;
  readonly qos: 0 | 1;
  /** Private dir: dead letters, the journal. */
  readonly dir: string;
  /** Port of the health listener (/spool, /metrics): free, so two edgefluxes can run side by side. */
  readonly httpPort: number;
  /** The global `pipeline:` (none when absent). */
  readonly pipeline?: readonly Json[];
  /** Hold up to this many bytes in memory mode (the outage needs 1M readings held). */
  readonly memoryBytes?: string;
  /** Extra top-level YAML keys merged over the generated ones (`--edgeflux-extra`). */
  readonly extra?: Json;
  /** The payload it decodes (default `point`). */
  readonly payload?: PayloadKind;
  /** Where the readings come from: the external broker (default), the embedded broker on this port, or these serial ports. */
  readonly embeddedPort?: number;
  /** Embedded broker: the publisher connections it must admit (all from 127.0.0.1). */
  readonly embeddedConnections?: number;
  readonly serialPorts?: readonly { readonly id: string; readonly path: string }[];
}

function merge(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k]) ? merge(out[k] as Json, v as Json) : v;
  }
  return out;
}

export function edgefluxConfig(a: EdgefluxConfigArgs): string {
  const output: Json = {
    id: 'influx',
    type: 'influxdb_v1',
    url: a.influxUrl,
    database: a.db,
    // Retry soon after an outage, like the baseline (which retries every second).
    retry: { initial: '200ms', max: '2s' },
  };
  if (!a.setup.hasSpool && a.setup.hasMaxPending && a.memoryBytes) output.max_pending = a.memoryBytes;
  const serialId = a.serialPorts?.[0]?.id.replace(/\d+$/, '');
  const decoding = edgefluxDecoding(a.payload ?? 'point', a.system, serialId);
  // Serial ports are decoded by the rules with the port's id as the topic: one rule per port.
  const rules = a.serialPorts ? a.serialPorts.flatMap((p) => decoding.rules.map((r) => ({ ...r, topic: p.id }))) : decoding.rules;
  const source: Json =
    a.embeddedPort !== undefined
      ? {
          broker: {
            host: '127.0.0.1',
            port: a.embeddedPort,
            // On loopback every device connects from one address: the per-address limit (default 32)
            // is raised to the device count, as the overall one for 10,000 devices (default 1,000).
            limits: {
              max_connections: Math.max(1000, (a.embeddedConnections ?? 0) + 16),
              max_connections_per_address: Math.max(32, (a.embeddedConnections ?? 0) + 16),
            },
          },
        }
      : a.serialPorts
        ? { serial: a.serialPorts.map((p) => ({ id: p.id, path: p.path, baud_rate: 115_200, framing: { type: 'readline' } })) }
        : { mqtt: [{ id: 'bench', url: a.brokerUrl, client_id: `${a.system}-bench`, subscriptions: [{ topic: `bench/${a.system}/#`, qos: a.qos }] }] };
  let cfg: Json = {
    log: { level: 'info' },
    ...source,
    ...(rules.length > 0 ? { rules } : {}),
    ...(decoding.devices ? { devices: decoding.devices } : {}),
    outputs: [output],
    dead_letter: { path: join(a.dir, 'dead-letter.jsonl') },
    service: { http: { host: '127.0.0.1', port: a.httpPort } },
  };
  if (a.pipeline) cfg.pipeline = a.pipeline;
  if (a.setup.hasSpool) {
    cfg.spool =
      a.setup.mode === 'durable' ? { mode: 'durable', dir: join(a.dir, 'spool') } : { mode: 'memory', ...(a.memoryBytes ? { max_bytes: a.memoryBytes } : {}) };
  }
  if (a.extra) cfg = merge(cfg, a.extra);
  return stringify(cfg);
}

/** `edgeflux check --config FILE`: resolves the errors printed, or '' when valid. */
export async function checkConfig(runtime: Runtime, file: string): Promise<string> {
  const p = startProc('edgeflux check', process.execPath, [...runtime.script('src/cli/main.ts'), 'check', '--config', file]);
  const code = await Promise.race([p.exited, new Promise<number>((r) => setTimeout(() => r(-2), 30_000))]);
  if (code === -2) await p.stop(1000);
  return code === 0 ? '' : p.tail().trim() || `exit code ${code}`;
}

/**
 * The node flags of ExecStart in systemd/edgeflux.service (e.g. `--max-semi-space-size=8`):
 * the bench runs edgeflux as the service does.
 */
export function unitNodeFlags(root: string): string[] {
  const unit = readFileSync(join(root, 'systemd', 'edgeflux.service'), 'utf8');
  const m = /^ExecStart=\S*node((?: --?[\w-]+(?:=\S+)?)*) \S+main\.js /m.exec(unit);
  if (!m) throw new Error('systemd/edgeflux.service: no ExecStart=…node … main.js line to take the node flags from');
  return (m[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/**
 * The variables of the uncommented `Environment=` lines of systemd/edgeflux.service (e.g.
 * `MALLOC_ARENA_MAX=2`): the bench runs edgeflux with them, as the service does.
 */
export function unitEnvironment(root: string): Record<string, string> {
  const unit = readFileSync(join(root, 'systemd', 'edgeflux.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(.*)$/gm)) {
    // systemd's syntax: space-separated assignments, each may be double-quoted as a whole.
    for (const a of (m[1] ?? '').match(/"[^"]*"|\S+/g) ?? []) {
      const kv = a.startsWith('"') ? a.slice(1, -1) : a;
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  return env;
}

/** A started edgeflux: its process and how long it took to log "edgeflux started". `env` is added to the bench's own. */
export async function startEdgeflux(
  runtime: Runtime,
  file: string,
  nodeFlags: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<{ proc: Proc; readyMs: number }> {
  const p = startProc('edgeflux', process.execPath, [...nodeFlags, ...runtime.script('src/cli/main.ts'), 'run', '--config', file], {
    env: { ...process.env, ...env },
  });
  const readyMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgeflux did not log "edgeflux started" within 30 s: ${p.tail().slice(-2000)}`)), 30_000);
    p.onLine((line) => {
      if (line.includes('"edgeflux started"')) {
        clearTimeout(timer);
        resolve(Date.now() - p.startedAt);
      } else if (/"level":(50|60)/.test(line)) {
        process.stderr.write(`  edgeflux: ${line.slice(0, 400)}\n`);
      }
    });
    void p.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`edgeflux exited (${code}) before it was ready: ${p.tail().slice(-2000)}`));
    });
  });
  return { proc: p, readyMs };
}

/** Files in the journal dir (0 when missing): shows whether durable mode really journals. */
export async function journalFiles(dir: string): Promise<number> {
  try {
    return (await readdir(join(dir, 'spool'), { recursive: true })).length;
  } catch {
    return 0;
  }
}
