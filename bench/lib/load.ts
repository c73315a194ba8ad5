/**
 * The load generator, from the bench's side: a child process (load-worker.ts) with one
 * raw MQTT connection to the broker, publishing JSON readings over D device topics at a
 * target rate, QoS 0 or 1, each reading with its own sequence number and timestamp
 * (readings.ts), so that the verifier can name any reading that went missing.
 */
import type { Runtime } from './build.js';
import type { PublishArgs, PublishResult } from './load-worker.js';
import { startProc } from './procs.js';
import { WorkerClient } from './rpc.js';

export type { PublishArgs, PublishResult } from './load-worker.js';

export class LoadGenerator {
  private constructor(private readonly rpc: WorkerClient) {}

  static async start(runtime: Runtime, brokerPort: number, clientId: string): Promise<LoadGenerator> {
    const proc = startProc(`load generator ${clientId}`, process.execPath, runtime.script('bench/lib/load-worker.ts'), { ipc: true });
    const gen = new LoadGenerator(new WorkerClient(proc));
    try {
      await gen.rpc.call('connect', { port: brokerPort, clientId }, 15_000);
    } catch (e) {
      await proc.stop(1000);
      throw e;
    }
    return gen;
  }

  get pid(): number {
    return this.rpc.proc.pid;
  }

  /** Publishes `count` readings at `rate`; resolves once all are written (QoS 0) or acknowledged (QoS 1). */
  publish(args: Omit<PublishArgs, 'timeoutMs'> & { timeoutMs?: number }): Promise<PublishResult> {
    const expectedMs = args.rate === Infinity ? 0 : (args.count / args.rate) * 1000;
    const timeoutMs = args.timeoutMs ?? Math.round(expectedMs * 3 + 60_000);
    return this.rpc.call<PublishResult>('publish', { ...args, timeoutMs }, timeoutMs + 5000);
  }

  /** Opens (or keeps) `connections` publisher connections to the broker on `port`, one per device. */
  openPool(port: number, connections: number, clientPrefix: string): Promise<{ openMs: number }> {
    return this.rpc.call('openPool', { port, connections, clientPrefix }, 60_000 + connections * 20);
  }

  closePool(): Promise<void> {
    return this.rpc.call('closePool', {}, 30_000);
  }

  async stop(): Promise<void> {
    try {
      await this.rpc.call('close', {}, 3000);
    } catch {
      // stopping anyway
    }
    await this.rpc.proc.stop(2000);
  }
}
