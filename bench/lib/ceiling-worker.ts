/**
 * The ceilings' process (started by ceilings.ts), two jobs:
 * - `subscribe`/`stats`: an mqtt.js subscriber that only counts (the broker → subscriber
 *   limit for any consumer built on mqtt.js, which every system under test is);
 * - `postFlood`: batched line-protocol POSTs straight into influxd's /write, bodies built
 *   before the clock starts (the InfluxDB ingest limit).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { serve } from './rpc.js';

let client: MqttClient | undefined;
let count = 0;
let firstAt = 0;
let lastAt = 0;

async function subscribe(a: { url: string; topic: string; qos: 0 | 1 }): Promise<void> {
  await client?.endAsync(true);
  count = 0;
  const c = await mqtt.connectAsync(a.url, { clean: true, reconnectPeriod: 0, connectTimeout: 10_000, clientId: `bench-counter-${process.pid}` });
  client = c;
  c.on('message', () => {
    const now = performance.now();
    if (count === 0) firstAt = now;
    lastAt = now;
    count++;
  });
  await c.subscribeAsync(a.topic, { qos: a.qos });
}

function stats(): { count: number; spanMs: number; sinceLastMs: number } {
  return { count, spanMs: lastAt - firstAt, sinceLastMs: count === 0 ? 0 : performance.now() - lastAt };
}

function reset(): void {
  count = 0;
  firstAt = lastAt = 0;
}

async function unsubscribe(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.endAsync(true);
}

export interface PostFloodArgs {
  readonly url: string;
  readonly db: string;
  readonly run: string;
  readonly points: number;
  readonly batch: number;
  readonly concurrency: number;
  readonly devices: number;
}

export interface PostFloodResult {
  readonly points: number;
  readonly requests: number;
  readonly elapsedMs: number;
  readonly rate: number;
  readonly failures: number;
}

async function postFlood(a: PostFloodArgs): Promise<PostFloodResult> {
  const tsBase = Date.now() * 1000;
  const bodies: string[] = [];
  for (let start = 0; start < a.points; start += a.batch) {
    const lines: string[] = [];
    for (let seq = start; seq < Math.min(a.points, start + a.batch); seq++) {
      const dev = 'd' + String(seq % a.devices).padStart(3, '0');
      lines.push(`m,device=${dev},run=${a.run},system=ceiling seq=${seq}i,v=${(seq % 1000) + 0.5} ${tsBase + seq}`);
    }
    bodies.push(lines.join('\n'));
  }
  const url = `${a.url}/write?db=${encodeURIComponent(a.db)}&precision=u`;
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      for (let attempt = 1; ; attempt++) {
        const r = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(30_000) }).catch((e: unknown) => e as Error);
        if (!(r instanceof Error) && r.status === 204) break;
        failures++;
        if (attempt >= 5) throw new Error(`POST failed 5 times: ${r instanceof Error ? r.message : `${r.status} ${await r.text()}`}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, lane));
  const elapsedMs = performance.now() - t0;
  return { points: a.points, requests: bodies.length, elapsedMs, rate: a.points / (elapsedMs / 1000), failures };
}

serve({ subscribe, stats, reset, unsubscribe, postFlood });
