import { Writable } from 'node:stream';
import { pino } from 'pino';
import mqtt, { type MqttClient } from 'mqtt';
import { parseConfigText, formatIssue } from '../../src/cli/load-config.js';
import { Daemon, type DaemonDeps } from '../../src/daemon.js';
import type { Config } from '../../src/config/types.js';

/** Log lines captured from a daemon (parsed pino JSON). */
export interface CapturedLog {
  readonly lines: Record<string, unknown>[];
  /** The lines as pino wrote them (JSON.parse would hide a key written twice). */
  readonly raw: string[];
  readonly text: () => string;
}

/** Parses a YAML config the way `edgeflux run` does (failing the test on any error). */
export async function configFrom(yaml: string, baseDir: string, env: NodeJS.ProcessEnv = {}): Promise<Config> {
  const r = await parseConfigText(yaml, 'test.yaml', env, baseDir);
  if (!r.ok) throw new Error(`config errors:\n${r.errors.map(formatIssue).join('\n')}`);
  return r.config;
}

/**
 * Starts a daemon in process from a YAML config, capturing its logs. `configEnv`: the
 * environment the config's `${ENV}` references read (as systemd gives the service).
 */
export async function startDaemon(
  yaml: string,
  baseDir: string,
  deps: Partial<Omit<DaemonDeps, 'config' | 'logger'>> = {},
  configEnv: NodeJS.ProcessEnv = {},
): Promise<{ daemon: Daemon; log: CapturedLog }> {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (!l) continue;
        raw.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = pino({ level: 'info' }, dest);
  let config = await configFrom(yaml, baseDir, configEnv);
  // Tests run in parallel: unless a test configures the health listener itself, give it
  // any free port instead of the fixed default.
  if (!/\bhttp:\s*\{|^\s+http:\s*$/m.test(yaml)) config = { ...config, service: { ...config.service, http: { ...config.service.http, port: 0 } } };
  const daemon = new Daemon({ ...deps, config, logger });
  await daemon.start();
  return { daemon, log: { lines, raw, text: () => lines.map((l) => JSON.stringify(l)).join('\n') } };
}

/** An mqtt.js client connected to 127.0.0.1:port (MQTT 3.1.1 unless told). */
export async function publisher(port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/** Publishes every message with `qos` and resolves when the broker acknowledged them all. */
export function publishAll(client: MqttClient, msgs: readonly { topic: string; payload: string | Buffer }[], qos: 0 | 1 = 1): Promise<void> {
  let left = msgs.length;
  if (left === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    for (const m of msgs) {
      client.publish(m.topic, m.payload, { qos }, (err) => {
        if (err) reject(err);
        else if (--left === 0) resolve();
      });
    }
  });
}

/** Keys that occur more than once in one object of a JSON text (pino writes a child's binding and a call's field side by side). */
export function duplicateKeys(json: string): string[] {
  const stack: Set<string>[] = [];
  const dups: string[] = [];
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '{') stack.push(new Set());
    else if (ch === '}') stack.pop();
    else if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const text = json.slice(i, j + 1);
      const keys = stack[stack.length - 1];
      if (json[j + 1] === ':' && keys) {
        const k = JSON.parse(text) as string;
        if (keys.has(k)) dups.push(k);
        keys.add(k);
      }
      i = j;
    }
  }
  return dups;
}
