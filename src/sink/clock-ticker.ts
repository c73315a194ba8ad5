/**
 * Moves a drain's StreamClock (pipeline/stream-clock.ts) with the wall clock while the
 * drain is caught up with the journal's head: every `everyMs`, to the wall clock less
 * `marginMs` (a record arriving now but not read yet stays ahead of the clock). While the
 * drain is behind (a replay, an output back from an outage) it does nothing: the drain
 * moves the clock to each record's arrival time instead. `stop()` frees the timer.
 */
import type { StreamClock } from '../pipeline/stream-clock.js';
import type { Timers } from '../util/timers.js';

export interface ClockTickerOptions {
  readonly clock: StreamClock;
  readonly timers: Timers;
  readonly now: () => number;
  /** Whether to move the clock now (the drain is running and at the head). */
  readonly caughtUp: () => boolean;
  /** Called after the clock moved (operators may have emitted or released holds). */
  readonly moved: () => void;
  readonly everyMs?: number;
  readonly marginMs?: number;
}

export class ClockTicker {
  private handle: unknown;
  private running = false;

  constructor(private readonly opts: ClockTickerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.handle !== undefined) this.opts.timers.clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(): void {
    const { clock, timers, now, caughtUp, moved, everyMs = 250, marginMs = 1000 } = this.opts;
    this.handle = timers.setTimeout(() => {
      this.handle = undefined;
      if (!this.running) return;
      if (caughtUp()) {
        clock.advanceTo(now() - marginMs);
        moved();
      }
      if (this.running) this.arm();
    }, everyMs);
  }
}
