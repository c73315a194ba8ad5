/**
 * A no-data watchdog: calls `onSilent` once when nothing was `touch()`ed for `limitMs`.
 * One timer, re-armed for the remaining budget when data came meanwhile (no timer churn
 * per chunk). `limitMs <= 0` disables it; `disarm()` frees the timer.
 */
export class SilenceWatchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = 0;

  constructor(
    private readonly limitMs: number,
    private readonly now: () => number,
    private readonly onSilent: () => void,
  ) {}

  /** Data arrived. */
  touch(): void {
    this.last = this.now();
  }

  /** Starts watching from now. */
  arm(): void {
    this.touch();
    this.schedule();
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.disarm();
    if (this.limitMs <= 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.now() - this.last < this.limitMs) return this.schedule();
        this.onSilent();
      },
      Math.max(1, this.last + this.limitMs - this.now()),
    );
  }
}
