import { globalTimers, type Timers } from './timers.js';

/**
 * Resolves after `ms`, or at once when `signal` aborts (an abort is not an error here); the
 * timer and the abort listener are freed either way. Time from `timers` (default: the
 * globals, so vitest fake timers drive it).
 */
export function sleep(ms: number, signal?: AbortSignal, timers: Timers = globalTimers): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      timers.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Timers an output waits on, all cancellable at once, so a stopping component can cut
 * every backoff short and leave no timer behind. Time comes from injectable `Timers`
 * (vitest fake timers replace the globals; tests may also pass their own).
 */
export class Sleeper {
  private readonly sleeps = new Map<() => void, unknown>();

  constructor(private readonly timers: Timers = globalTimers) {}

  /**
   * Resolves after `ms`, or at once when `wakeAll()` is called, or when `until` settles
   * (its timer is freed then: nothing stays armed).
   */
  sleep(ms: number, until?: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.timers.clearTimeout(this.sleeps.get(done));
        this.sleeps.delete(done);
        resolve();
      };
      this.sleeps.set(done, this.timers.setTimeout(done, ms));
      void until?.then(done, done);
    });
  }

  /** Ends every pending sleep now and frees its timer. */
  wakeAll(): void {
    for (const [resolve, handle] of this.sleeps) {
      this.timers.clearTimeout(handle);
      resolve();
    }
    this.sleeps.clear();
  }
}
