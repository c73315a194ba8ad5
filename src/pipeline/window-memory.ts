/**
 * What a window step knows of a series that is not in its table: that the step forgot it
 * for being idle, having written all its windows (a gone series: gone.ts), or what the run
 * before a restart knew of it (its replay ledger: replay-state.ts). A reading of such a
 * series either starts the series' state again from there, or is late: every window it
 * could join was written as the series went idle.
 */
import type { Reading } from '../types.js';
import { GoneSeries } from './gone.js';
import type { WindowLedger } from './replay-state.js';
import { forgottenNotice, type ResolvedContext } from './series.js';
import { SeriesWindows } from './window-series.js';
import type { WindowSpec } from './window-spec.js';

export class WindowMemory {
  private readonly gone: GoneSeries;

  /** `maxGone`: gone series remembered at most (the step's series cap); past it the oldest is forgotten early (notice `memory_limit`). */
  constructor(
    private readonly spec: WindowSpec,
    private readonly ledger: WindowLedger | undefined,
    private readonly ctx: ResolvedContext,
    maxGone: number,
  ) {
    this.gone = new GoneSeries(maxGone);
  }

  /**
   * The state of series `key`, new to the step's table, whose reading `r` has its latest
   * window at `lastStart`; undefined when the reading is late (the series is gone, and
   * the window holding its newest reading, written as it went idle, is not before `lastStart`).
   */
  open(key: string, r: Reading, lastStart: bigint): SeriesWindows | undefined {
    const now = this.ctx.scheduler.now();
    const before = this.ledger?.resume(key, now);
    if (before?.gone) this.remember(key, before.max, before.until);
    const goneMax = this.gone.recall(key, now);
    const measurement = r.measurement + this.spec.suffix;
    if (goneMax !== undefined) {
      // Gone: every window up to the one holding its newest reading was written.
      const closedStart = this.spec.startOf(goneMax);
      if (lastStart <= closedStart) return undefined;
      return new SeriesWindows(key, measurement, r.tags, goneMax, closedStart, closedStart, undefined);
    }
    const maxTime = before !== undefined && before.max > r.time ? before.max : r.time;
    // Back from gone before the cursor: its floor holds as it did in the run before.
    const closed = maxTime - this.spec.latePlusPeriodNs;
    const floor = before?.floor !== undefined && before.floor > closed ? before.floor : undefined;
    return new SeriesWindows(key, measurement, r.tags, maxTime, floor ?? closed, floor, before?.written);
  }

  /** Series `key` is in the table again (`open` gave its state, the table took it). */
  back(key: string): void {
    this.gone.delete(key);
  }

  /** The table forgot series `key` (its windows written) for being idle since `at`: remember its newest time. */
  forgot(key: string, s: SeriesWindows, at: number): void {
    this.remember(key, s.maxTime, at + this.spec.idle + this.spec.memory);
  }

  clear(): void {
    this.gone.clear();
  }

  private remember(key: string, max: bigint, until: number): void {
    const dropped = this.gone.remember(key, max, until, this.ctx.scheduler.now());
    if (dropped !== undefined) this.ctx.onNotice(forgottenNotice('window', dropped.key, dropped.time));
  }
}
