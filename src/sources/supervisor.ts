/**
 * Keeps one source's failure to itself. Each source is subscribed on its own (not merged
 * into one stream, where one source's error would end every subscription): when a
 * source's `messages()` errors, or completes while the source should be running, only
 * that source is down. The supervisor logs it, counts it (`source_failures{source}`),
 * shows it in `state` (for /healthz), and restarts it (stop, subscribe, start) after a
 * capped exponential backoff; the backoff starts over once a source has run `stableMs`
 * without failing. The daemon keeps running: the other sources, the journal and the
 * outputs are unaffected, and a source that keeps failing is visible (health reports
 * it) instead of silently ending all input.
 */
import type { Subscription } from '../util/rx.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RetryTimer, type RawMessage, type Source, type SourceStatus } from './source.js';

export interface SupervisorOptions {
  readonly source: Source;
  readonly onMessage: (msg: RawMessage) => void;
  readonly logger: Logger;
  readonly counters?: Counters;
  /** First restart delay, ms (default 1 s); doubles per failure up to `maxMs` (default 60 s). */
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** A run this long (ms) without failing starts the backoff over; default 60 s. */
  readonly stableMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** What health shows of a supervised source. */
export interface SupervisedState {
  readonly id: string;
  /** failed: its stream failed, waiting for its restart; else what the source says of its connection. */
  readonly state: 'failed' | SourceStatus['state'];
  /** Failures since the daemon started. */
  readonly failures: number;
  readonly lastError?: string;
  /** When the last failure happened (ms since the epoch). */
  readonly failedAt?: number;
}

export class SourceSupervisor {
  readonly id: string;
  private sub: Subscription | undefined;
  private readonly retry: RetryTimer;
  private readonly now: () => number;
  private running = false;
  private startedAt = 0;
  private restarting: Promise<void> | undefined;
  private status: SourceStatus = { state: 'closed' };
  private statusSub: Subscription | undefined;
  private failure: { readonly lastError: string; readonly failedAt: number } | undefined;
  private failures = 0;
  private failing = false;
  private runs = 0;
  /** While the first start() is under way: a stream failure waits for its outcome. */
  private firstStart = false;
  private earlyFailure: { readonly run: number; readonly err: unknown } | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    this.id = opts.source.id;
    this.now = opts.now ?? Date.now;
    this.retry = new RetryTimer(opts.initialMs ?? 1000, opts.maxMs ?? 60_000, opts.random);
  }

  get state(): SupervisedState {
    const lastError = this.failing ? this.failure?.lastError : (this.status.lastError ?? this.failure?.lastError);
    return {
      id: this.id,
      state: this.failing ? 'failed' : this.status.state,
      failures: this.failures,
      ...(lastError !== undefined && { lastError }),
      ...(this.failure && { failedAt: this.failure.failedAt }),
    };
  }

  /**
   * Subscribes, then starts the source (so nothing waits for a subscriber). The first
   * start's failure is not retried but thrown (e.g. the broker's port is taken): the
   * daemon then fails to start and says why, rather than run without that source.
   */
  async start(): Promise<void> {
    this.running = true;
    this.statusSub ??= this.opts.source.status$.subscribe((st) => (this.status = st));
    this.firstStart = true;
    try {
      await this.run();
    } finally {
      this.firstStart = false;
    }
    const early = this.earlyFailure;
    this.earlyFailure = undefined;
    if (early) this.failed(early.run, early.err);
  }

  /** Cancels a pending restart, stops the source and unsubscribes. */
  async stop(): Promise<void> {
    this.running = false;
    this.retry.cancel();
    await this.restarting;
    try {
      await this.opts.source.stop();
    } finally {
      this.sub?.unsubscribe();
      this.sub = undefined;
      this.statusSub?.unsubscribe();
      this.statusSub = undefined;
      this.failing = false;
    }
  }

  private async run(): Promise<void> {
    this.sub?.unsubscribe();
    this.sub = undefined;
    const run = ++this.runs;
    this.startedAt = this.now();
    this.failing = false;
    const sub = this.opts.source.messages().subscribe({
      next: this.opts.onMessage,
      error: (err: unknown) => this.failed(run, err),
      complete: () => this.failed(run, new Error('its message stream ended')),
    });
    if (run !== this.runs || this.failing) {
      sub.unsubscribe(); // failed at once; a restart is scheduled
      return;
    }
    this.sub = sub;
    try {
      await this.opts.source.start();
    } catch (err) {
      if (this.firstStart) {
        this.running = false;
        this.earlyFailure = undefined;
        this.sub?.unsubscribe();
        this.sub = undefined;
        this.statusSub?.unsubscribe();
        this.statusSub = undefined;
        throw err;
      }
      this.failed(run, err);
    }
  }

  /** Run number `run` failed (each run fails at most once; a stop is not a failure). */
  private failed(run: number, err: unknown): void {
    if (!this.running || run !== this.runs || this.failing) return;
    if (this.firstStart) {
      this.earlyFailure ??= { run, err };
      return;
    }
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.now() - this.startedAt >= (this.opts.stableMs ?? 60_000)) this.retry.reset();
    const message = err instanceof Error ? err.message : String(err);
    this.failing = true;
    this.failures++;
    this.failure = { lastError: message, failedAt: this.now() };
    this.opts.counters?.inc('source_failures', { source: this.id });
    const delay = this.retry.schedule(() => {
      this.restarting = this.restart().finally(() => (this.restarting = undefined));
    });
    this.opts.logger.error(
      { source: this.id, err, failures: this.failures, restart_in_ms: delay },
      `source ${this.id} failed (${message}); the other sources go on, restarting it in ${delay} ms`,
    );
  }

  private async restart(): Promise<void> {
    if (!this.running) return;
    try {
      await this.opts.source.stop();
    } catch (err) {
      this.opts.logger.warn({ source: this.id, err }, `source ${this.id}: stopping it before the restart failed`);
    }
    if (!this.running) return;
    this.opts.logger.info({ source: this.id, attempt: this.retry.attempts }, `source ${this.id}: restarting`);
    await this.run();
  }
}
