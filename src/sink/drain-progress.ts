/**
 * A drain's progress while it catches up with a backlog (after an outage, or a restart
 * with much in the journal): every `everyMs`, when the output is more than one batch
 * behind and moving, one info line with the messages left, the rate and the ETA; once
 * caught up, one line saying so. Silent at steady state and while the output is down
 * (the output logs its own errors then).
 */
import type { Logger } from '../observe/logger.js';
import type { Timers } from '../util/timers.js';

export interface DrainProgressOptions {
  readonly id: string;
  /** Names the output already (the daemon gives a child logger with `output`): log lines do not repeat it. */
  readonly logger: Logger;
  readonly timers: Timers;
  readonly now: () => number;
  readonly everyMs: number;
  /** Behind by more than this many messages counts as catching up. */
  readonly threshold: number;
  /** The committed cursor and the journal head, now. */
  readonly position: () => { readonly cursor: number; readonly head: number };
}

export class DrainProgress {
  private timer: unknown;
  private mark = { at: 0, cursor: 0 };
  private behind = false;
  private running = false;

  constructor(private readonly opts: DrainProgressOptions) {}

  start(): void {
    this.running = true;
    this.mark = { at: this.opts.now(), cursor: this.opts.position().cursor };
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.opts.timers.setTimeout(() => {
      this.timer = undefined;
      this.report();
      if (this.running) this.schedule();
    }, this.opts.everyMs);
  }

  private report(): void {
    const { id, logger } = this.opts;
    const t = this.opts.now();
    const { cursor, head } = this.opts.position();
    const left = head - cursor;
    const rate = (cursor - this.mark.cursor) / Math.max(0.001, (t - this.mark.at) / 1000);
    this.mark = { at: t, cursor };
    if (left > this.opts.threshold && rate > 0) {
      this.behind = true;
      const eta = Math.round(left / rate);
      logger.info(
        { messages_left: left, rate_per_s: Math.round(rate), eta_s: eta },
        `output ${id}: catching up, ${left} messages left at ${Math.round(rate)}/s, about ${formatEta(eta)} to go`,
      );
    } else if (this.behind && left <= this.opts.threshold) {
      this.behind = false;
      logger.info(`output ${id}: caught up with the journal`);
    }
  }
}

function formatEta(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
