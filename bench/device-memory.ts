/**
 * Memory edgeflux keeps per device (issue 26): the device profiles' topic cache and series
 * (DeviceDecoders), the status page's DeviceTable, StaleDevices and the line protocol
 * encoder's series cache. No servers, no daemon: N devices' messages (bench/lib/workload.ts,
 * the shipped tasmota and zigbee2mqtt profiles) are decoded, observed and encoded the way
 * the ingest and a drain do, each device first sending its availability (LWT) and then
 * `--messages` readings 10 s apart; then the heap is measured after full collections.
 *
 *   node --expose-gc --import tsx bench/device-memory.ts [--devices 1000,10000] [--messages 4]
 *
 * Prints per payload and device count: bytes per device in all (V8 heap used plus array
 * buffers, which typed arrays keep outside the heap), and the share of each part, found by
 * letting the parts go one at a time (the encoder's cache: the heap it grew by when the
 * last round's lines were encoded).
 */
import { parseArgs } from 'node:util';
import { loadProfiles } from '../src/devices/profiles/load.js';
import { DeviceDecoders } from '../src/devices/profiles/device-decoders.js';
import { deviceStatusReading, isDeviceStatus } from '../src/devices/profiles/types.js';
import { DeviceTable } from '../src/observe/device-table.js';
import { StaleDevices } from '../src/observe/stale-devices.js';
import type { Logger } from '../src/observe/logger.js';
import { encodeLine } from '../src/sink/line-protocol.js';
import type { MessageData, Reading } from '../src/types.js';
import { deviceName, PAYLOADS } from './lib/workload.js';

type Kind = 'tasmota' | 'z2m';

/** Per payload: the profile, its vars (topics under bench/<system>/, as the bench configures them) and its availability topic and payload. */
const KINDS: Readonly<Record<Kind, { profile: string; vars: Record<string, string>; lwt: (device: string) => [string, string] }>> = {
  tasmota: { profile: 'tasmota', vars: { prefix: 'bench/edgeflux/tele' }, lwt: (d) => [`bench/edgeflux/tele/${d}/LWT`, 'Online'] },
  z2m: { profile: 'zigbee2mqtt', vars: { base: 'bench/edgeflux/z2m' }, lwt: (d) => [`bench/edgeflux/z2m/${d}/availability`, '{"state":"online"}'] },
};

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

/** Heap used plus array buffers after full collections. */
function settle(): number {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const quiet = { warn: () => {}, info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
const catalog = await loadProfiles();
if (!catalog.ok) throw new Error('shipped profiles do not load');

interface Parts {
  decoders: DeviceDecoders | undefined;
  table: DeviceTable | undefined;
  stale: StaleDevices | undefined;
}

function message(topic: string, payload: string, atMs: number, seq: number): MessageData {
  // As a source hands it over: a topic string of its own, a payload Buffer, a fresh arrival time.
  return {
    sourceId: 'broker',
    topic: Buffer.from(topic).toString('latin1'),
    payload: Buffer.from(payload),
    receivedAt: BigInt(atMs) * 1_000_000n + BigInt(seq),
  };
}

/** One message through what the daemon does with it on the ingest path; its readings. */
function feed(p: Parts, m: MessageData, atMs: number): Reading[] {
  const r = p.decoders!.decode(m);
  if (r === undefined || (!Array.isArray(r) && !isDeviceStatus(r))) throw new Error(`not decoded: ${m.topic}: ${JSON.stringify(r)}`);
  const readings = isDeviceStatus(r) ? [deviceStatusReading(r)] : r;
  p.stale!.observe(readings);
  p.table!.observe(readings, m.sourceId, atMs, m.topic);
  return readings;
}

function measure(kind: Kind, n: number, rounds: number): string {
  const k = KINDS[kind];
  const spec = PAYLOADS[kind];
  const profile = catalog.catalog.profiles.get(k.profile);
  if (profile === undefined) throw new Error(`no shipped profile ${k.profile}`);
  let now = Date.now();
  const before = settle();
  const p: Parts = {
    decoders: new DeviceDecoders({ mqtt: [{ profile, vars: { ...profile.spec.vars, ...k.vars } }] }),
    table: undefined,
    stale: new StaleDevices({ logger: quiet, now: () => now }),
  };
  p.table = new DeviceTable('device', 10_000, (source, topic) => p.decoders?.units({ sourceId: source, topic }));
  const names = Array.from({ length: n }, (_, d) => deviceName(d, n));
  let seq = 0;
  let beforeLines = 0;
  for (let d = 0; d < n; d++) {
    const [topic, payload] = k.lwt(names[d]!);
    feed(p, message(topic, payload, now, seq++), now);
  }
  // Readings 10 s apart: every device's entries move in the recency order each round (as a real site's would).
  for (let round = 0; round < rounds; round++) {
    now += 10_000;
    const last = round === rounds - 1;
    if (last) beforeLines = settle();
    for (let d = 0; d < n; d++, seq++) {
      for (const r of feed(p, message(spec.topic('edgeflux', 'live', names[d]!), spec.payload(seq, n, now), now, seq), now)) if (last) encodeLine(r);
    }
  }
  const all = settle();
  const encoder = all - beforeLines;
  p.stale = undefined;
  const noStale = settle();
  p.table = undefined;
  const noTable = settle();
  p.decoders = undefined;
  const none = settle();
  const per = (bytes: number): string => (bytes / n).toFixed(0).padStart(6);
  return (
    `| ${kind.padEnd(7)} | ${n.toLocaleString('en-US').padStart(6)} | ${per(all - before)} | ${per(noTable - none - encoder)} | ${per(encoder)} | ` +
    `${per(noStale - noTable)} | ${per(all - noStale)} | ${per(none - before)} |`
  );
}

const { values } = parseArgs({ options: { devices: { type: 'string', default: '1000,10000' }, messages: { type: 'string', default: '4' } } });
const counts = values.devices.split(',').map(Number);
const rounds = Number(values.messages);
process.stdout.write(
  `bytes per device (V8 heap used + array buffers, after gc()), each device: 1 availability message, then ${rounds} readings 10 s apart; node ${process.version}\n\n` +
    '| payload | devices | in all | decoders (topics, series) | line encoder cache | device table | stale devices | left after all went |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|\n',
);
for (const kind of ['tasmota', 'z2m'] as const) measure(kind, 1000, rounds); // warm-up: compiled code and caches that are not per device
for (const kind of ['tasmota', 'z2m'] as const) for (const n of counts) process.stdout.write(`${measure(kind, n, rounds)}\n`);
