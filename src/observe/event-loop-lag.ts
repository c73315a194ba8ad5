/**
 * Event-loop lag: how late timers and I/O callbacks run (a loop blocked by CPU work or
 * synchronous I/O). Sampled by Node's `monitorEventLoopDelay` (a libuv timer, not a JS
 * one) and summarised over fixed windows, so that every reader (the /metrics scrape, the
 * internal points, STATUS=) sees the same last complete window and none resets it for the
 * others. `stop()` disables the histogram and frees the window timer.
 * The histogram records the time between two samples, i.e. the resolution plus the lag:
 * the resolution is subtracted, so an idle loop reads ~0 (as prom-client's setImmediate
 * based `nodejs_eventloop_lag_seconds`), not ~the resolution.
 *
 * With `pauseWhenIdle`, a window in which `touch()` was never called (nothing arrived)
 * ends the sampling (the histogram's libuv timer and the window timer both stop: an idle
 * daemon is not woken to measure itself); the next `touch()` starts it again. Meanwhile
 * `current` is the last window measured.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LoopLag {
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export const NO_LAG: LoopLag = { meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };

export interface EventLoopLagOptions {
  /** Sampling resolution. Default 100 ms (as prom-client's own histogram): each sample wakes the event loop, which an idle daemon pays for (20 ms cost ~3.5 ms of CPU a second here). */
  readonly resolutionMs?: number;
  /** Length of a summary window. Default 10 s. */
  readonly windowMs?: number;
  /** Stop sampling after a window without `touch()`; default false. */
  readonly pauseWhenIdle?: boolean;
}

export class EventLoopLag {
  private histogram: IntervalHistogram | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private last: LoopLag | undefined;
  private touched = false;
  private paused = false;

  constructor(private readonly opts: EventLoopLagOptions = {}) {}

  private get resolutionMs(): number {
    return this.opts.resolutionMs ?? 100;
  }

  start(): void {
    if (this.histogram) return;
    this.paused = false;
    this.touched = false;
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), this.opts.windowMs ?? 10_000);
    this.timer.unref?.();
  }

  /** Work is being done (a message arrived): sample while it goes on. Cheap enough for every message. */
  touch(): void {
    if (this.paused) this.start();
    this.touched = true;
  }

  /** Whether sampling is paused for want of work. */
  get idle(): boolean {
    return this.paused;
  }

  stop(): void {
    this.paused = false;
    this.histogram?.disable();
    this.histogram = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last complete window; before the first one ends, the samples so far. */
  get current(): LoopLag {
    return this.last ?? summarise(this.histogram, this.resolutionMs);
  }

  private roll(): void {
    this.last = summarise(this.histogram, this.resolutionMs);
    this.histogram?.reset();
    if (this.opts.pauseWhenIdle && !this.touched) {
      this.stop();
      this.paused = true;
    }
    this.touched = false;
  }
}

/** The window's figures, each less the sampling interval (never below 0). */
function summarise(h: IntervalHistogram | undefined, resolutionMs: number): LoopLag {
  if (!h || h.count === 0 || !Number.isFinite(h.mean)) return NO_LAG;
  const ms = (ns: number) => Math.max(0, Math.round(ns / 1e3 - resolutionMs * 1e3) / 1e3);
  return { meanMs: ms(h.mean), p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
}
