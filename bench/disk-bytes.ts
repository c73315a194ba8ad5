/**
 * Bytes edgeflux writes to disk per reading (what wears an SD card): the real daemon (durable mode, the
 * bench's config: private mosquitto and influxd, the load generator), one step per rate, and
 * `/proc/PID/io` write_bytes of the daemon's process before and after the step, divided by the
 * readings of the step. Counts everything the daemon writes: segment files, the cursor
 * database, anything else. A step ends once every reading is stored (runStep), so the cursor
 * saves of the drain are in it.
 *
 *   node --import tsx bench/disk-bytes.ts --rates 2000 --devices 1000 --qos 1 --seconds 20
 *   node --import tsx bench/disk-bytes.ts --payload flat
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpile } from './lib/build.js';
import { inspectEdgeflux } from './lib/edgeflux.js';
import { LoadGenerator } from './lib/load.js';
import { cleanupAll, installCleanupHandlers } from './lib/procs.js';
import { startInfluxd, startMosquitto } from './lib/servers.js';
import { runStep, type StepEnv } from './lib/steps.js';
import { makeSystems } from './lib/systems.js';
import { PAYLOAD_KINDS, PAYLOADS, type PayloadKind, type Workload } from './lib/workload.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function writeBytes(pid: number): number {
  const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  if (!m) throw new Error(`no write_bytes in /proc/${pid}/io`);
  return Number(m[1]);
}

/**
 * `strace -f -y` on the daemon's writes: bytes per reading by file kind (segments, the cursor
 * database, other). write(2) bytes, not write_bytes (which also counts what the filesystem adds).
 */
async function startTrace(pid: number): Promise<{ stop(readings: number): Promise<string> }> {
  const out = `${tmpdir()}/edgeflux-disk-bytes-${process.pid}.strace`;
  const p = spawn('strace', ['-f', '-y', '-qq', '-e', 'trace=write,pwrite64,writev', '-e', 'signal=none', '-o', out, '-p', String(pid)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return {
    async stop(readings) {
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
      const by = new Map<string, number>();
      const calls = new Map<string, number>();
      for (const line of readFileSync(out, 'utf8').split('\n')) {
        const m = /\w+\(\d+<([^>]*)>.*\) = (\d+)$/.exec(line);
        if (!m) continue;
        const file = m[1]!;
        const kind = /\.seg$/.test(file)
          ? 'segments'
          : file.includes('/cursors/')
            ? `cursors/${file.split('/').pop()!.replace(/\d+/, 'N')}`
            : file.startsWith('/')
              ? 'other files'
              : 'sockets/pipes';
        by.set(kind, (by.get(kind) ?? 0) + Number(m[2]));
        calls.set(kind, (calls.get(kind) ?? 0) + 1);
      }
      rmSync(out, { force: true });
      return [...by]
        .filter(([k]) => k !== 'sockets/pipes')
        .map(([k, b]) => `${k} ${(b / readings).toFixed(1)} B (${calls.get(k)} writes)`)
        .join(', ');
    },
  };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      qos: { type: 'string', default: '1' },
      rates: { type: 'string', default: '2000' },
      reps: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '20' },
      devices: { type: 'string', default: '1000' },
      payload: { type: 'string', default: 'point' },
      strace: { type: 'boolean', default: false },
    },
  });
  const payload = v.payload as PayloadKind;
  if (!PAYLOAD_KINDS.includes(payload)) throw new Error(`--payload: one of ${PAYLOAD_KINDS.join(', ')}`);
  const qos = Number(v.qos) as 0 | 1;
  const devices = Number(v.devices);
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  installCleanupHandlers(log);
  const { runtime } = await transpile(ROOT);
  const setup = await inspectEdgeflux(runtime, 'durable');
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  const [def] = makeSystems({ runtime, broker, influx, edgeflux: setup }, ['edgeflux']);
  if (!def) throw new Error('no edgeflux system');
  await influx.createDatabase(def.db);
  const gen = await LoadGenerator.start(runtime, broker.port, 'disk-bytes-load');
  const workload: Workload = { source: 'mosquitto', payload, devices, connections: 1, window: 20_000 };
  const env: StepEnv = { influx, gen, devices, drainLimitMs: 3000, log, workload };
  const spec = PAYLOADS[payload];
  const sample =
    spec.topic('edgeflux', 'q1n1r2000', 'd0421').length + spec.payload(123, devices, spec === PAYLOADS.point ? Date.now() * 1000 : Date.now()).length;
  log(`payload ${payload}: topic + payload ≈ ${sample} B; ${devices} devices; QoS ${qos}`);
  const sut = await def.start({ qos, workload });
  try {
    await runStep(env, def, sut, qos, 1000, 3000); // warm-up: series created, first segment opened
    for (let r = 0; r < Number(v.reps); r++) {
      for (const rate of v.rates.split(',').map(Number)) {
        const trace = v.strace ? await startTrace(sut.proc.pid) : undefined;
        const w0 = writeBytes(sut.proc.pid);
        const step = await runStep(env, def, sut, qos, rate, Number(v.seconds) * 1000);
        const bytes = writeBytes(sut.proc.pid) - w0;
        if (trace) log(`    write(2) bytes per reading by file: ${await trace.stop(step.sent)}`);
        log(
          `  ${rate}/s × ${v.seconds} s: ${step.sent} readings, lost ${step.lost}, write_bytes ${bytes} = ${(bytes / step.sent).toFixed(1)} B per reading (${(bytes / step.sent / sample).toFixed(2)}× topic+payload)`,
        );
      }
    }
  } finally {
    await sut.stop();
    await gen.stop();
    await cleanupAll();
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    process.stderr.write(`disk-bytes: ${e instanceof Error ? e.stack : String(e)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
