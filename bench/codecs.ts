/**
 * Micro-benchmark of the codecs on the hot path, on one core, messages prepared in advance:
 * decoding per payload format (through the rules, as the ingest and a drain behind the head
 * call it: topic template match included), the bench's Tasmota and Zigbee2MQTT payloads
 * through their shipped device profiles, and line protocol encoding into a batch.
 *
 *   node --import tsx bench/codecs.ts [messages]
 *
 * Each case runs 5 times; the table shows the median per second of wall time and per
 * second of this process's CPU time (steadier when the machine is shared).
 */
import { loadavg } from 'node:os';
import { parseConfigText } from '../src/config/load.js';
import { RuleSet } from '../src/devices/rules.js';
import { DeviceDecoders } from '../src/devices/profiles/device-decoders.js';
import { loadProfiles } from '../src/devices/profiles/load.js';
import { PAYLOADS } from './lib/workload.js';
import { encodeLine } from '../src/sink/line-protocol.js';
import { LineWriter } from '../src/sink/line-batch.js';
import { isDecodeError, type RawMessage, type Reading } from '../src/types.js';
import { measureRuns, type MicroResult } from './lib/micro.js';

const N = Number(process.argv[2] ?? 200_000);
const RUNS = 5;
const DEVICES = 100;
const T0_US = 1_700_000_000_000_000;

const config = await parseConfigText(
  `
broker: { port: 0 }
outputs: [{ id: o, type: influxdb_v1, url: "http://127.0.0.1:8086", database: d }]
rules:
  - { topic: "json/{device}/{measurement}", format: json, json: { time_key: ts, time_unit: us, integers: [seq] } }
  - { topic: "bench/{system}/{run}/{device}/{measurement}", format: json, json: { time_key: ts, time_unit: us, integers: [seq] } }
  - { topic: "jsonnested/{device}/{measurement}", format: json }
  - { topic: "number/{device}/{measurement}", format: number, number: { field: value } }
  - { topic: "lp/{device}", format: line_protocol }
`,
  'bench.yaml',
);
if (!config.ok) throw new Error(config.errors.map((e) => e.message).join('; '));
const rules = new RuleSet(config.config.rules, config.config.limits);

const noAck = (): void => undefined;
function messages(topic: (i: number) => string, payload: (i: number) => string): RawMessage[] {
  return Array.from({ length: N }, (_, i) => ({
    sourceId: 'bench',
    topic: topic(i),
    payload: Buffer.from(payload(i)),
    receivedAt: BigInt(T0_US + i) * 1000n,
    ack: noAck,
  }));
}
const dev = (i: number) => `d${String(i % DEVICES).padStart(3, '0')}`;

const formats: [string, RawMessage[]][] = [
  [
    'json {seq,v,ts µs} (the e2e bench payload)',
    messages(
      (i) => `json/${dev(i)}/m`,
      (i) => `{"seq":${i},"v":${(i % 1000) + 0.5},"ts":${T0_US + i}}`,
    ),
  ],
  [
    'json {seq,v,ts µs}, 3 topic tags (the e2e bench topics)',
    messages(
      (i) => `bench/edgeflux/q1n7r10000/${dev(i)}/m`,
      (i) => `{"seq":${i},"v":${(i % 1000) + 0.5},"ts":${T0_US + i}}`,
    ),
  ],
  [
    'json nested, 4 fields, arrival time',
    messages(
      (i) => `jsonnested/${dev(i)}/climate`,
      (i) => `{"temperature":${20 + (i % 100) / 10},"humidity":${40 + (i % 30)},"battery":{"level":${i % 100},"low":false}}`,
    ),
  ],
  [
    'number (plain text)',
    messages(
      (i) => `number/${dev(i)}/temperature`,
      (i) => `${20 + (i % 100) / 10}`,
    ),
  ],
  [
    'line protocol, 2 tags 2 fields',
    messages(
      (i) => `lp/${dev(i)}`,
      (i) => `climate,room=r${i % 20},floor=1 temperature=${20 + (i % 100) / 10},humidity=${40 + (i % 30)}i ${(T0_US + i) * 1000}`,
    ),
  ],
];

const results: MicroResult[] = [];
let sink: Reading[] = [];
for (const [name, msgs] of formats) {
  const first = rules.decode(msgs[0] as RawMessage);
  if (isDecodeError(first)) throw new Error(`${name}: ${first.reason}: ${first.message}`);
  results.push(
    measureRuns(`decode ${name}`, msgs.length, RUNS, () => {
      for (const m of msgs) {
        const r = rules.decode(m);
        if (!isDecodeError(r)) sink = r;
      }
    }),
  );
}

// Device profiles: the bench matrix's payloads, as its cells send them.
const catalog = await loadProfiles();
if (!catalog.ok) throw new Error('profiles');
const profileCases: [string, string, Record<string, string>, (i: number) => string, (i: number) => string][] = [
  ['tasmota', 'tasmota', { prefix: 'tele' }, (i) => `tele/d${i % 10_000}/SENSOR`, (i) => PAYLOADS.tasmota.payload(i, 10_000, 0)],
  ['zigbee2mqtt', 'zigbee2mqtt', { base: 'z2m' }, (i) => `z2m/${dev(i)}`, (i) => PAYLOADS.z2m.payload(i, DEVICES, 0)],
];
for (const [name, profile, vars, topic, payload] of profileCases) {
  const p = catalog.catalog.profiles.get(profile);
  if (p === undefined) throw new Error(`no profile ${profile}`);
  const dd = new DeviceDecoders({ mqtt: [{ profile: p, vars }] });
  const msgs = messages(topic, payload);
  const first = dd.decode(msgs[0] as RawMessage);
  if (!Array.isArray(first)) throw new Error(`${name}: ${JSON.stringify(first)}`);
  results.push(
    measureRuns(
      `decode ${name} profile (${name === 'tasmota' ? '10,000 devices, 3 readings' : `${DEVICES} devices, numbers as strings`})`,
      msgs.length,
      RUNS,
      () => {
        for (const m of msgs) {
          const r = dd.decode(m);
          if (Array.isArray(r)) sink = r;
        }
      },
    ),
  );
}

const readings: Reading[] = [];
for (const m of formats[0]?.[1] ?? []) readings.push(...(rules.decode(m) as Reading[]));
const nested: Reading[] = [];
for (const m of formats[2]?.[1] ?? []) nested.push(...(rules.decode(m) as Reading[]));
const tagged: Reading[] = [];
for (const m of formats[1]?.[1] ?? []) tagged.push(...(rules.decode(m) as Reading[]));
for (const [name, rs] of [
  ['{seq,v,ts} reading', readings],
  ['{seq,v,ts} reading, 3 tags', tagged],
  ['nested reading, 4 fields', nested],
] as const) {
  results.push(
    measureRuns(`encode line protocol, ${name}`, rs.length, RUNS, () => {
      const w = new LineWriter();
      for (let i = 0; i < rs.length; i++) {
        const line = encodeLine(rs[i] as Reading);
        if (line !== null) w.add(line);
        if (w.length === 5000) w.take();
      }
      w.take();
    }),
  );
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`\ncodecs: ${fmt(N)} messages over ${DEVICES} devices, ${process.version}, median of ${RUNS}, load average ${loadavg()[0]?.toFixed(1)}\n`);
console.log(`${'case'.padEnd(64)} ${'msgs/s'.padStart(11)} ${'per CPU-s'.padStart(11)} ${'CPU-µs/msg'.padStart(11)}`);
console.log('-'.repeat(100));
for (const r of results)
  console.log(`${r.name.padEnd(64)} ${fmt(r.perSecond).padStart(11)} ${fmt(r.perCpuSecond).padStart(11)} ${(1e6 / r.perCpuSecond).toFixed(2).padStart(11)}`);
if (sink.length === 0) throw new Error('nothing decoded');
