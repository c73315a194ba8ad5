/**
 * The bare baseline: what a user would write by hand instead of running edgeflux. An
 * mqtt.js subscriber turns each JSON reading into one line of line protocol, and every
 * 5000 lines (or 1 s) the lines are POSTed to InfluxDB 1.x /write, one request at a time,
 * retried every second while InfluxDB is down. Nothing else: no journal, no bound on
 * memory, acks on receipt (mqtt.js's default). Prints "ready" once subscribed.
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
  },
});
const BATCH = Number(opt.batch);
const MAX_AGE_MS = Number(opt['max-age-ms']);
const writeUrl = `${opt.influx}/write?db=${encodeURIComponent(opt.db)}&precision=u`;

let lines: string[] = [];
const bodies: string[] = [];
let posting = false;
let timer: NodeJS.Timeout | undefined;

function onMessage(topic: string, payload: Buffer): void {
  // bench/<system>/<run>/<device>/<measurement>
  const t = topic.split('/');
  let r: { seq: number; v: number; ts: number };
  try {
    r = JSON.parse(payload.toString()) as typeof r;
  } catch {
    return;
  }
  lines.push(`${t[4]},device=${t[3]},run=${t[2]},system=${t[1]} seq=${r.seq}i,v=${r.v} ${r.ts}`);
  if (lines.length >= BATCH) flush();
  else timer ??= setTimeout(flush, MAX_AGE_MS);
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
