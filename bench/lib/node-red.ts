/**
 * Node-RED as a system under test (opt-in: `--node-red`): the usual Pi answer, mqtt in →
 * influxdb out. Installed by the bench with npm into bench/.work/node-red (a scratch dir,
 * git-ignored, reused by later runs; never a dependency of the project).
 *
 * The flow: `mqtt in` (JSON) → `function` (topic levels → tags, payload → fields, ts →
 * timestamp) → `join` (arrays of 5000, or after 1 s) → `influxdb batch` (node-influx,
 * precision µs). Per-message `influxdb out` would POST once per reading (2–3k/s at most),
 * so batching is the fair comparison.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './net.js';
import { startProc, type Proc } from './procs.js';

export const NODE_RED_SPEC = 'node-red@^4.1'; // 5.x needs Node ≥ 22.9
export const INFLUX_NODE_SPEC = 'node-red-contrib-influxdb@0.7.0';

function installedVersion(dir: string, pkg: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Installs Node-RED and the InfluxDB nodes into `dir` unless there already; resolves their versions. */
export async function ensureNodeRed(dir: string, log: (s: string) => void): Promise<{ red: string; version: string; influxNode: string }> {
  let version = installedVersion(dir, 'node-red');
  let influxNode = installedVersion(dir, 'node-red-contrib-influxdb');
  if (!version?.startsWith('4.') || !influxNode) {
    log(`installing ${NODE_RED_SPEC} ${INFLUX_NODE_SPEC} into ${dir} (npm, once)...`);
    await mkdir(dir, { recursive: true });
    if (!existsSync(join(dir, 'package.json'))) await writeFile(join(dir, 'package.json'), '{ "name": "edgeflux-bench-node-red", "private": true }\n');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const p = startProc('npm install node-red', npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', NODE_RED_SPEC, INFLUX_NODE_SPEC], { cwd: dir });
    const code = await Promise.race([p.exited, new Promise<number>((r) => setTimeout(() => r(-2), 600_000))]);
    if (code !== 0) {
      await p.stop(1000);
      throw new Error(`npm install of Node-RED failed (${code === -2 ? 'timed out after 10 min' : `exit ${code}`}): ${p.tail().slice(-1500)}`);
    }
    version = installedVersion(dir, 'node-red');
    influxNode = installedVersion(dir, 'node-red-contrib-influxdb');
  }
  if (!version || !influxNode) throw new Error(`Node-RED not found in ${dir} after npm install`);
  return { red: join(dir, 'node_modules', 'node-red', 'red.js'), version, influxNode };
}

function flows(brokerPort: number, influxPort: number, db: string, qos: 0 | 1): unknown[] {
  const func = [
    "const t = msg.topic.split('/');",
    'const p = msg.payload;',
    'msg.payload = { measurement: t[4], tags: { device: t[3], run: t[2], system: t[1] }, fields: { seq: p.seq, v: p.v }, timestamp: p.ts };',
    'return msg;',
  ].join('\n');
  return [
    { id: 'tab', type: 'tab', label: 'bench' },
    {
      id: 'broker',
      type: 'mqtt-broker',
      name: '',
      broker: '127.0.0.1',
      port: String(brokerPort),
      clientid: 'bench-node-red',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
    },
    {
      id: 'in',
      type: 'mqtt in',
      z: 'tab',
      name: '',
      topic: 'bench/nodered/#',
      qos: String(qos),
      datatype: 'json',
      broker: 'broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 100,
      wires: [['fn']],
    },
    {
      id: 'fn',
      type: 'function',
      z: 'tab',
      name: 'to point',
      func,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 300,
      y: 100,
      wires: [['join']],
    },
    {
      id: 'join',
      type: 'join',
      z: 'tab',
      name: '',
      mode: 'custom',
      build: 'array',
      property: 'payload',
      propertyType: 'msg',
      key: 'topic',
      joiner: '\\n',
      joinerType: 'str',
      useparts: false,
      accumulate: false,
      timeout: '1',
      count: '5000',
      reduceRight: false,
      reduceExp: '',
      reduceInit: '',
      reduceInitType: '',
      reduceFixup: '',
      x: 500,
      y: 100,
      wires: [['out']],
    },
    { id: 'out', type: 'influxdb batch', z: 'tab', influxdb: 'influx', precision: 'u', retentionPolicy: '', name: '', x: 700, y: 100, wires: [] },
    {
      id: 'influx',
      type: 'influxdb',
      hostname: '127.0.0.1',
      port: String(influxPort),
      protocol: 'http',
      database: db,
      name: '',
      usetls: false,
      tls: '',
      influxdbVersion: '1.x',
    },
  ];
}

export interface NodeRedArgs {
  readonly red: string;
  readonly dir: string;
  readonly brokerPort: number;
  readonly influxPort: number;
  readonly db: string;
  readonly qos: 0 | 1;
}

/** Starts Node-RED on the flow above; resolves once it logged "Started flows" and its MQTT connection is up. */
export async function startNodeRed(a: NodeRedArgs): Promise<{ proc: Proc; readyMs: number }> {
  await mkdir(a.dir, { recursive: true });
  await writeFile(join(a.dir, 'flows.json'), JSON.stringify(flows(a.brokerPort, a.influxPort, a.db, a.qos), null, 1));
  const settings = {
    uiPort: await freePort(),
    uiHost: '127.0.0.1',
    httpAdminRoot: false,
    httpNodeRoot: false,
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
  };
  await writeFile(join(a.dir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 1)};\n`);
  const p = startProc('node-red', process.execPath, [a.red, '--userDir', a.dir, '--settings', join(a.dir, 'settings.js')], { cwd: a.dir });
  const readyMs = await new Promise<number>((resolve, reject) => {
    let started = false;
    let connected = false;
    const timer = setTimeout(() => reject(new Error(`Node-RED not ready within 60 s: ${p.tail().slice(-2000)}`)), 60_000);
    p.onLine((line) => {
      if (line.includes('Started flows')) started = true;
      if (/Connected to broker/i.test(line)) connected = true;
      if (started && connected) {
        clearTimeout(timer);
        resolve(Date.now() - p.startedAt);
      } else if (line.includes('[error]')) {
        process.stderr.write(`  node-red: ${line.slice(0, 300)}\n`);
      }
    });
    void p.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Node-RED exited (${code}) before it was ready: ${p.tail().slice(-2000)}`));
    });
  });
  return { proc: p, readyMs };
}
