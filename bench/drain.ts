/**
 * Drain micro-benchmark: what edgeflux itself spends per point when it drains a backlog
 * (the outage test's drain, without influxd). A FileJournal is filled with N messages of
 * the end-to-end bench's shape (topic `bench/edgeflux/<run>/dNNN/m`, payload
 * `{"seq":N,"v":D.5,"ts":µs}`, the bench's rule: time key `ts` in µs, `seq` an integer),
 * then a Drain reads it, decodes every message through the rules, encodes line protocol
 * and hands 5000-line batches to an Output whose writer copies the body (as the HTTP
 * transport does) and answers on the next turn. Reported: points/s of wall time and
 * CPU-µs per point (this process), median of the runs.
 *
 *   node --import tsx bench/drain.ts [messages] [runs]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfigText } from '../src/config/load.js';
import { RuleSet } from '../src/devices/rules.js';
import { FileJournal } from '../src/journal/file-journal.js';
import { Counters } from '../src/observe/counters.js';
import { silentLogger } from '../src/observe/logger.js';
import { Drain } from '../src/sink/drain.js';
import type { Body, Writer } from '../src/sink/influx-writer.js';
import { Output } from '../src/sink/output.js';
import { isDecodeError } from '../src/types.js';
import { median } from './lib/micro.js';
import { payloadOf, topicOf, topicPrefix } from './lib/readings.js';

const N = Number(process.argv[2] ?? 300_000);
const RUNS = Number(process.argv[3] ?? 5);
const DEVICES = 100;

const CONFIG = `
mqtt: [{ id: bench, url: 'mqtt://127.0.0.1:1', subscriptions: [{ topic: 'bench/#', qos: 1 }] }]
rules: [{ topic: 'bench/{system}/{run}/{device}/{measurement}', format: json, json: { time_key: ts, time_unit: us, integers: [seq] } }]
outputs: [{ id: influx, type: influxdb_v1, url: 'http://127.0.0.1:1', database: b }]
`;

/** Copies each body, as the transport's Buffer.from does, and counts the points. */
class CopyWriter implements Writer {
  points = 0;
  bytes = 0;
  async write(body: Body, pointCount: number): Promise<void> {
    this.bytes += Buffer.from(body as Uint8Array).length;
    this.points += pointCount;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function once(dir: string): Promise<{ wall: number; cpu: number; points: number }> {
  const loaded = await parseConfigText(CONFIG, 'bench/drain.ts', {});
  if (!loaded.ok) throw new Error(`bench config: ${JSON.stringify(loaded.errors)}`);
  const { config } = loaded;
  const rules = new RuleSet(config.rules, config.limits);
  const logger = silentLogger();
  const journal = new FileJournal({ dir, maxBytes: 8 * 1024 ** 3, policy: 'drop-oldest', sync: 1000, logger });
  await journal.open();
  const run = `r${Date.now() % 100_000}`;
  const tsBaseUs = Date.now() * 1000;
  const prefix = topicPrefix('edgeflux', run);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < N; i++) {
    journal.stage({
      sourceId: 'bench',
      topic: topicOf(prefix, `d${String(i % DEVICES).padStart(3, '0')}`),
      payload: Buffer.from(payloadOf(i, tsBaseUs)),
      receivedAt: t0 + BigInt(i) * 1000n,
    });
    if (i % 1000 === 999 || i === N - 1) journal.flush();
  }
  const oc = config.outputs[0]!;
  const writer = new CopyWriter();
  const counters = new Counters();
  const output = new Output({ config: oc, writer, logger, counters, deadLetter: { record: () => undefined } });
  journal.addConsumer(oc.id);
  let bad = 0;
  const drain = new Drain({ journal, output, decode: (r) => rules.decode(r), onDecodeError: () => bad++, logger, counters });
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  drain.start();
  while (writer.points < N && bad === 0) await new Promise((r) => setTimeout(r, 5));
  const w1 = process.hrtime.bigint();
  const wall = Number(w1 - w0) / 1e9;
  // Monotonic µs, the clock of a --cpu-prof profile: cut the drain out of it.
  if (process.env.DRAIN_MARKS) process.stderr.write(`drain ${w0 / 1000n} ${w1 / 1000n}\n`);
  const c = process.cpuUsage(c0);
  await drain.stop(1000, false);
  await journal.close();
  if (bad > 0 || writer.points !== N) throw new Error(`drained ${writer.points} of ${N} points, ${bad} messages did not decode`);
  const sample = rules.decode({ sourceId: 'bench', topic: topicOf(prefix, 'd000'), payload: Buffer.from(payloadOf(1, tsBaseUs)), receivedAt: t0 });
  if (isDecodeError(sample)) throw new Error(`sample does not decode: ${sample.message}`);
  return { wall, cpu: (c.user + c.system) / 1e6, points: writer.points };
}

const walls: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < RUNS; r++) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-bench-drain-'));
  try {
    const { wall, cpu } = await once(dir);
    walls.push(wall);
    cpus.push(cpu);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const w = median(walls);
const c = median(cpus);
process.stdout.write(
  `drain of ${N} messages (${DEVICES} series), median of ${RUNS}: ${Math.round(N / w).toLocaleString('en-US')} points/s, ` +
    `${((c * 1e6) / N).toFixed(2)} CPU-µs per point, best ${((Math.min(...cpus) * 1e6) / N).toFixed(2)} (runs: ${cpus.map((x) => ((x * 1e6) / N).toFixed(2)).join(', ')})\n`,
);
