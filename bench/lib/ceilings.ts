/**
 * The limits every figure is read against, measured in the same run:
 * - broker → counting subscriber: the load generator floods mosquitto as fast as it can;
 *   an mqtt.js subscriber in its own process counts (msgs/s between its first and last message);
 * - batched POSTs straight into influxd: 5000-line bodies, 1 (and 2) requests in flight.
 */
import type { Runtime } from './build.js';
import type { PostFloodArgs, PostFloodResult } from './ceiling-worker.js';
import { LoadGenerator } from './load.js';
import { sleep } from './net.js';
import { startProc } from './procs.js';
import { WorkerClient } from './rpc.js';
import type { Influxd, Mosquitto } from './servers.js';

export interface BrokerCeiling {
  readonly qos: 0 | 1;
  readonly published: number;
  readonly publishRate: number;
  readonly received: number;
  /** Messages per second at the subscriber. */
  readonly rate: number;
}

export interface PostCeiling {
  readonly concurrency: number;
  /** When it was measured: at the start of the run, or right after outage run N (1-based). */
  readonly after?: number;
  readonly points: number;
  /** Points per second. */
  readonly rate: number;
  readonly failures: number;
}

async function withWorker<T>(runtime: Runtime, fn: (w: WorkerClient) => Promise<T>): Promise<T> {
  const proc = startProc('ceiling worker', process.execPath, runtime.script('bench/lib/ceiling-worker.ts'), { ipc: true });
  try {
    return await fn(new WorkerClient(proc));
  } finally {
    await proc.stop(2000);
  }
}

export async function brokerCeiling(runtime: Runtime, broker: Mosquitto, qos: 0 | 1, count: number, devices: number): Promise<BrokerCeiling> {
  return withWorker(runtime, async (w) => {
    const run = `q${qos}t${Date.now()}`;
    await w.call('subscribe', { url: broker.url, topic: `bench/ceil/${run}/#`, qos }, 15_000);
    const gen = await LoadGenerator.start(runtime, broker.port, `bench-ceiling-pub-${qos}`);
    try {
      const pub = await gen.publish({
        system: 'ceil',
        run,
        devices,
        rate: Infinity,
        count,
        qos,
        tsBase: Date.now() * 1000,
        window: 20_000,
        timeoutMs: 180_000,
      });
      // Wait until the subscriber has everything, or nothing came for 3 s (bounded: 120 s).
      const deadline = Date.now() + 120_000;
      let s = await w.call<{ count: number; spanMs: number; sinceLastMs: number }>('stats', {}, 5000);
      while (s.count < count && s.sinceLastMs < 3000 && Date.now() < deadline) {
        await sleep(100);
        s = await w.call('stats', {}, 5000);
      }
      await w.call('unsubscribe', {}, 5000);
      return { qos, published: pub.sent, publishRate: pub.achievedRate, received: s.count, rate: s.count / (Math.max(1, s.spanMs) / 1000) };
    } finally {
      await gen.stop();
    }
  });
}

export async function postCeiling(runtime: Runtime, influx: Influxd, db: string, points: number, concurrency: number, devices: number): Promise<PostCeiling> {
  await influx.createDatabase(db);
  return withWorker(runtime, async (w) => {
    const args: PostFloodArgs = { url: influx.url, db, run: `c${concurrency}-${Date.now()}`, points, batch: 5000, concurrency, devices };
    const r = await w.call<PostFloodResult>('postFlood', args, 300_000);
    return { concurrency, points: r.points, rate: r.rate, failures: r.failures };
  });
}
