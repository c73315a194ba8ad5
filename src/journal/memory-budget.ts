/**
 * Whether a memory-mode spool fits node's heap. In `spool.mode: memory` the held messages
 * are objects in the V8 heap (MemoryJournal), and node aborts ("JavaScript heap out of
 * memory") when the heap reaches its limit: a quota the heap cannot hold would crash the
 * daemon in the middle of an outage and lose everything held. So `run` refuses to start
 * (and a reload is refused) when a full spool would not fit, naming `spool.max_bytes` and the
 * fix. The systemd unit caps the heap (`--max-old-space-size`, see systemd/edgeflux.service),
 * which is why this matters.
 *
 * The figures: the heap a full spool takes per byte counted against `max_bytes`, measured by
 * bench/memory-spool-heap.ts on the worst shape (one-byte payloads, where the record around
 * the message dominates), and the heap the daemon needs besides the spool.
 */
import type { CheckResult, ConfigCheck } from '../config/load.js';
import type { SpoolConfig } from '../config/types.js';
import { errorMessage } from '../util/errors.js';

/**
 * V8 heap per byte counted against `spool.max_bytes` when the memory spool is full: a record
 * takes 220-265 B of heap (its object, the topic string, the arrival time, the Buffer object;
 * the payload's bytes are outside the heap) and counts its payload, topic and source id plus
 * RECORD_OVERHEAD (256 B, memory-journal.ts). The worst case, a one-byte topic, source id and
 * payload, counts 259 B for at most ~265 B of heap: 1.03. (With the 64 B counted before, it
 * was 2.89 for one-byte payloads, bench/memory-spool-heap.ts.)
 */
export const HEAP_PER_SPOOL_BYTE = 1.1;
/** Heap the daemon needs besides the spool: its live heap at 20k readings/s (~30 MB) and room for garbage between collections. */
export const HEAP_BESIDES_SPOOL = 96 * 1024 * 1024;

const MiB = 1024 * 1024;

/** Heap bytes a daemon with this spool needs at most (0 beyond the daemon's own for a durable spool, whose messages wait on disk). */
export function heapNeeded(spool: Pick<SpoolConfig, 'mode' | 'max_bytes'>): number {
  return (spool.mode === 'memory' ? spool.max_bytes * HEAP_PER_SPOOL_BYTE : 0) + HEAP_BESIDES_SPOOL;
}

/** The smallest `--max-old-space-size` (MiB) that holds a full memory spool of `maxBytes`. */
export function oldSpaceMiBFor(maxBytes: number): number {
  return Math.ceil(heapNeeded({ mode: 'memory', max_bytes: maxBytes }) / MiB);
}

/**
 * The config check `run` adds (cli/load-config.ts): a memory spool whose full quota does not
 * fit `heapLimit` (v8.getHeapStatistics().heap_size_limit of the process that will run it)
 * is an error at `spool.max_bytes`.
 */
export function memorySpoolFits(heapLimit: number): ConfigCheck {
  return {
    valid(config): Promise<CheckResult> {
      const { spool } = config;
      const need = heapNeeded(spool);
      if (spool.mode !== 'memory' || need <= heapLimit) return Promise.resolve({ issues: [] });
      const message = errorMessage('EFX_SPOOL_HEAP_TOO_SMALL', {
        max_bytes: `${(spool.max_bytes / MiB).toFixed(0)} MiB`,
        need: Math.ceil(need / MiB),
        limit: Math.floor(heapLimit / MiB),
        old_space: oldSpaceMiBFor(spool.max_bytes),
      });
      return Promise.resolve({ issues: [{ path: ['spool', 'max_bytes'], message, code: 'EFX_SPOOL_HEAP_TOO_SMALL' }] });
    },
  };
}
