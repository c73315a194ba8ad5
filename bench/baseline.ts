/**
 * The bare baseline: what a user would write by hand instead of running edgeflux. An
 * mqtt.js subscriber turns each JSON reading into one line of line protocol, and every
 * 5000 lines (or 1 s) the lines are POSTed to InfluxDB 1.x /write, one request at a time,
 * retried every second while InfluxDB is down. Nothing else: no journal, no bound on
 * memory, acks on receipt (mqtt.js's default). Prints "ready" once subscribed.
 *
 * `--payload` says which of the bench's payloads (bench/lib/workload.ts) it reads, and it
 * writes the points edgeflux writes for them, the way one would by hand: flat JSON → one
 * line (`seq`, `rssi` integers, strings quoted); a Tasmota SENSOR message → one line per
 * sensor object (keys lower-cased, the profile's drops dropped, arrival time); Zigbee2MQTT
 * → one line, numbers sent as strings written as numbers (arrival time); line protocol →
 * the topic's levels added as tags.
 *
 *   node bench/baseline.js --mqtt mqtt://127.0.0.1:1883 --topic 'bench/baseline/#' --qos 1 \
 *     --influx http://127.0.0.1:8086 --db bench
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values: opt } = parseArgs({
  options: {
    mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    topic: { type: 'string', default: 'bench/baseline/#' },
    qos: { type: 'string', default: '1' },
    influx: { type: 'string', default: 'http://127.0.0.1:8086' },
    db: { type: 'string', default: 'bench' },
    batch: { type: 'string', default: '5000' },
    'max-age-ms': { type: 'string', default: '1000' },
    payload: { type: 'string', default: 'point' },
  },
});
const PAYLOAD = opt.payload;
const BATCH = Number(opt.batch);
const MAX_AGE_MS = Number(opt['max-age-ms']);
const writeUrl = `${opt.influx}/write?db=${encodeURIComponent(opt.db)}&precision=${PAYLOAD === 'point' ? 'u' : 'ns'}`;

let lines: string[] = [];
const bodies: string[] = [];
let posting = false;
let timer: NodeJS.Timeout | undefined;

/** Arrival time in ns, unique within the process (ms clock + a counter), so that no two points collide. */
let arrivals = 0;
function arrivalNs(): string {
  return `${Date.now()}${String(arrivals++ % 1_000_000).padStart(6, '0')}`;
}

const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** Fields of a flat JSON object as line protocol (`ints`: written as integers; `skip`: left out). */
function fieldsOf(o: Record<string, unknown>, ints: ReadonlySet<string>, skip: ReadonlySet<string>, numericStrings = false): string {
  let out = '';
  for (const k in o) {
    if (skip.has(k)) continue;
    const v = o[k];
    let f: string;
    if (typeof v === 'number') f = ints.has(k) ? `${Math.round(v)}i` : String(v);
    else if (typeof v === 'boolean') f = String(v);
    else if (typeof v === 'string')
      f = numericStrings && v !== '' && Number.isFinite(Number(v)) ? (ints.has(k) ? `${Math.round(Number(v))}i` : String(Number(v))) : `"${esc(v)}"`;
    else continue;
    out += (out ? ',' : '') + k + '=' + f;
  }
  return out;
}

const FLAT_INTS = new Set(['seq', 'rssi']);
const FLAT_SKIP = new Set(['ts']);
const Z2M_INTS = new Set(['linkquality']);
const Z2M_SKIP = new Set(['last_seen']);
const TASMOTA_SKIP = new Set(['TotalStartTime', 'Period']);
const NONE = new Set<string>();

function push(line: string): void {
  lines.push(line);
  if (lines.length >= BATCH) flush();
  else timer ??= setTimeout(flush, MAX_AGE_MS);
}

function onMessage(topic: string, payload: Buffer): void {
  const t = topic.split('/');
  const text = payload.toString();
  if (PAYLOAD === 'lp') {
    // bench/<system>/lp/<device>: the line gets the topic's levels as tags.
    const sp = text.indexOf(' ');
    push(`${text.slice(0, sp)},device=${t[3]},system=${t[1]}${text.slice(sp)}`);
    return;
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return;
  }
  if (PAYLOAD === 'point') {
    // bench/<system>/<run>/<device>/<measurement>
    push(`${t[4]},device=${t[3]},run=${t[2]},system=${t[1]} seq=${o.seq as number}i,v=${o.v as number} ${o.ts as number}`);
  } else if (PAYLOAD === 'flat') {
    push(`${t[4]},device=${t[3]},run=${t[2]},system=${t[1]} ${fieldsOf(o, FLAT_INTS, FLAT_SKIP)} ${o.ts as number}000000`);
  } else if (PAYLOAD === 'z2m') {
    // bench/<system>/z2m/<device>
    push(`zigbee2mqtt,device=${t[3]} ${fieldsOf(o, Z2M_INTS, Z2M_SKIP, true)} ${arrivalNs()}`);
  } else if (PAYLOAD === 'tasmota') {
    // bench/<system>/tele/<device>/SENSOR: one line per sensor object.
    const time = arrivalNs();
    for (const k in o) {
      const sensor = o[k];
      if (sensor === null || typeof sensor !== 'object') continue;
      const f = fieldsOf(sensor as Record<string, unknown>, NONE, TASMOTA_SKIP).toLowerCase();
      if (f) push(`tasmota,device=${t[3]},sensor=${k} ${f} ${time}`);
    }
  }
}

function flush(): void {
  if (timer) clearTimeout(timer);
  timer = undefined;
  if (lines.length === 0) return;
  bodies.push(lines.join('\n'));
  lines = [];
  void post();
}

async function post(): Promise<void> {
  if (posting) return;
  posting = true;
  while (bodies.length > 0) {
    try {
      const res = await fetch(writeUrl, { method: 'POST', body: bodies[0], signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      if (res.status < 300 || (res.status >= 400 && res.status < 500)) bodies.shift();
      else await new Promise((r) => setTimeout(r, 1000));
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  posting = false;
}

const client = mqtt.connect(opt.mqtt, { clean: true, clientId: `bench-baseline-${process.pid}`, reconnectPeriod: 1000 });
client.on('message', onMessage);
client.on('connect', () => {
  client.subscribe(opt.topic, { qos: Number(opt.qos) as 0 | 1 }, (err) => {
    if (err) process.stderr.write(`subscribe failed: ${err.message}\n`);
    else process.stdout.write('ready\n');
  });
});
client.on('error', (err) => process.stderr.write(`mqtt: ${err.message}\n`));

process.on('SIGTERM', () => {
  client.end(true);
  flush();
  const bye = setTimeout(() => process.exit(0), 10_000);
  const check = setInterval(() => {
    if (bodies.length === 0 && !posting) {
      clearInterval(check);
      clearTimeout(bye);
      process.exit(0);
    }
  }, 50);
});
