/** Wake-ups for a loop that waits for something to happen (an append, a free slot, a stop). */
export class Wakeup {
  private waiters: (() => void)[] = [];

  /** Resolves at the next `wake()`. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Resolves on the next event-loop turn, or at the next `wake()` if that comes first
   * (the immediate is freed either way): lets the events of the current I/O turn gather.
   */
  nextTurn(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearImmediate(handle);
        resolve();
      };
      const handle = setImmediate(done);
      this.waiters.push(done);
    });
  }

  /** Resolves every pending wait. */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
