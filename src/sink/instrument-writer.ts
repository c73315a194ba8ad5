/**
 * The write-latency histogram's feed: an output's writer wrapped so that every request's
 * duration reaches `Metrics.observeWrite` (observe/ is told, it does not reach into sink/).
 */
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../observe/metrics.js';
import type { Writer } from './influx-writer.js';

/**
 * Wraps an output's writer so every request's duration lands in the write latency
 * histogram (`edgeflux_write_duration_seconds{output,outcome}`); behaviour unchanged.
 */
export function instrumentWriter(
  writer: Writer,
  output: string,
  metrics: Pick<Metrics, 'observeWrite'>,
  clock: () => number = () => performance.now(),
): Writer {
  return {
    async write(body, pointCount, signal) {
      const t0 = clock();
      let ok = false;
      try {
        await writer.write(body, pointCount, signal);
        ok = true;
      } finally {
        metrics.observeWrite(output, (clock() - t0) / 1000, ok);
      }
    },
    ...(writer.ping && { ping: (timeoutMs: number, signal?: AbortSignal) => writer.ping!(timeoutMs, signal) }),
    close: () => writer.close?.(),
  };
}
