/**
 * Timers an output waits on, all cancellable at once, so a stopping component can cut
 * every backoff short and leave no timer behind. Time comes from injectable `Timers`
 * (vitest fake timers replace the globals; tests may also pass their own).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

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

  /** Whether `p` settles within `ms`; the timer is freed either way. */
  async within(p: Promise<unknown>, ms: number): Promise<boolean> {
    let handle: unknown;
    const late = new Promise<boolean>((resolve) => (handle = this.timers.setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([p.then(() => true), late]);
    } finally {
      this.timers.clearTimeout(handle);
    }
  }
}
