/**
 * One configured output: takes batches of line protocol from the pipeline, holds them in
 * memory (at most `max_pending` bytes: beyond it the oldest waiting lines are dropped and
 * counted) and writes them, oldest first, with up to `concurrency` requests in flight;
 * small waiting batches are coalesced up to `batch.max_points` per request. This layer
 * alone owns batching and retry. Failed requests, by kind (write-error.ts):
 * retryable → backoff with full jitter (at least Retry-After), retried until stopped;
 * too_large → split in halves (and later requests capped), a lone line dead-lettered;
 * bad_request → bisected until each bad line is isolated and dead-lettered with
 * InfluxDB's message; partial → InfluxDB wrote the rest: one dead-letter record, its
 * `dropped=N` counted; auth/not_found → data kept, slow retry, the fix logged once a
 * minute; fatal → dead-lettered. Counters: points_written{output}, write_requests{output},
 * write_retries{output,kind}, dropped_points{output,reason}.
 */
import type { OutputConfig } from '../config/types.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../observe/rate-limit.js';
import { Backoff } from './backoff.js';
import type { DeadLetterSink } from './dead-letter.js';
import type { Writer } from './influx-writer.js';
import { LineQueue } from './line-queue.js';
import { Sleeper, type Timers } from './sleeper.js';
import { fixHint, otherWriteError, type WriteError, type WriteErrorKind } from './write-error.js';

export type { Timers } from './sleeper.js';

export interface OutputOptions {
  readonly config: OutputConfig;
  /** The output owns it from now on and closes it when it stops. */
  readonly writer: Writer;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly deadLetter: DeadLetterSink;
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
}

/** `down`: the last request failed for a reason that stops all writing (network, 5xx, auth, not found). Times in ms. */
export interface OutputStatus {
  readonly state: 'up' | 'down';
  readonly lastError?: string;
  readonly lastErrorKind?: WriteErrorKind;
  readonly lastErrorAt?: number;
  readonly lastSuccessAt?: number;
}

/** Slow retry while InfluxDB refuses the credentials or the database/bucket is missing. */
const SLOW_RETRY = { initialMs: 30_000, maxMs: 120_000, jitter: 'equal' } as const;
const STOP_GRACE_MS = 1000; // for requests to give up once the stop deadline aborted them

type Part = readonly string[];

export class Output {
  readonly id: string;
  readonly config: OutputConfig;
  private readonly queue = new LineQueue();
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private halted = false;
  private active = 0;
  private readonly slots = new Set<Promise<void>>();
  private inFlightPoints = 0;
  private inFlightBytes = 0;
  private abandoned = 0;
  private requestLimit: number;
  private readonly abort = new AbortController();
  private onIdle: (() => void) | undefined;
  private stopping: Promise<boolean> | undefined;
  private current: OutputStatus = { state: 'up' };
  private readonly sleeper: Sleeper;
  private readonly now: () => number;
  private readonly warnLimiter: RateLimiter;
  private readonly fixLimiter: RateLimiter;

  constructor(private readonly opts: OutputOptions) {
    this.config = opts.config;
    this.id = opts.config.id;
    this.sleeper = new Sleeper(opts.timers);
    const now = (this.now = opts.now ?? Date.now);
    this.requestLimit = Math.max(1, opts.config.batch.max_points);
    this.warnLimiter = new RateLimiter(10_000, () => now());
    this.fixLimiter = new RateLimiter(60_000, () => now());
  }

  /** Points held in memory: waiting plus in flight. */
  get pendingPoints(): number {
    return this.queue.points + this.inFlightPoints;
  }

  /** Bytes of line protocol held in memory (UTF-8, one newline per line), waiting plus in flight. */
  get pendingBytes(): number {
    return this.queue.bytes + this.inFlightBytes;
  }

  get status(): OutputStatus {
    return this.current;
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.pump();
  }

  /** Takes one batch of lines (the array is kept, not copied: do not change it later). Never throws. */
  submit(lines: readonly string[]): void {
    try {
      if (lines.length === 0) return;
      if (this.state === 'stopping' || this.state === 'stopped') {
        this.drop('stopped', lines.length);
        this.warn('stopped', { points: lines.length }, 'points submitted after stop were dropped');
        return;
      }
      this.queue.push(lines);
      this.enforceCap();
      this.pump();
    } catch (err) {
      this.opts.logger.error({ err, output: this.id }, `output ${this.id}: submit failed`);
    }
  }

  /**
   * Stops accepting, writes everything pending within `timeoutMs`, then gives up on the
   * rest (counted as dropped{reason="shutdown"}). Resolves true when all was written.
   */
  stop(timeoutMs: number): Promise<boolean> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<boolean> {
    const started = this.state === 'running';
    this.state = 'stopping';
    let drained = !started && this.queue.points === 0;
    if (started) {
      this.sleeper.wakeAll(); // one last immediate try for requests waiting out a backoff
      this.pump();
      drained = await this.sleeper.within(this.idle(), timeoutMs);
      if (!drained) {
        this.halted = true;
        this.abort.abort();
        this.sleeper.wakeAll();
        await this.sleeper.within(Promise.all(this.slots), STOP_GRACE_MS);
      }
    }
    const left = this.queue.clear() + this.abandoned + this.inFlightPoints;
    this.abandoned = 0;
    if (left > 0) {
      this.drop('shutdown', left);
      this.opts.logger.error({ output: this.id, points: left }, `output ${this.id}: ${left} points could not be written before the shutdown timeout and are lost`);
    }
    this.state = 'stopped';
    this.opts.writer.close?.();
    return drained && left === 0;
  }

  private pump(): void {
    if (this.state === 'new' || this.state === 'stopped' || this.halted) return;
    while (this.active < Math.max(1, this.opts.config.concurrency) && this.queue.points > 0) {
      this.active++;
      const slot = this.runSlot();
      this.slots.add(slot);
      void slot.finally(() => this.slots.delete(slot));
    }
  }

  /** Sends batches until nothing is pending. Never rejects. */
  private async runSlot(): Promise<void> {
    try {
      for (;;) {
        if (this.halted) return;
        const batch = this.queue.take(this.requestLimit);
        if (!batch) return;
        this.inFlightPoints += batch.lines.length;
        this.inFlightBytes += batch.bytes;
        try {
          this.abandoned += await this.deliver(batch.lines);
        } catch (err) {
          this.drop('fatal', batch.lines.length);
          this.opts.logger.error({ err, output: this.id }, `output ${this.id}: internal error, ${batch.lines.length} points lost`);
        } finally {
          this.inFlightPoints -= batch.lines.length;
          this.inFlightBytes -= batch.bytes;
        }
      }
    } finally {
      this.active--;
      if (this.active === 0 && this.queue.points === 0) this.onIdle?.();
    }
  }

  /** Writes `lines`, splitting as errors demand. Returns how many lines were abandoned (halted). */
  private async deliver(lines: Part): Promise<number> {
    const todo: Part[] = [lines];
    while (todo.length > 0) {
      const part = todo.pop() as Part;
      const next = await this.sendPart(part);
      if (next === 'halted') return todo.reduce((n, p) => n + p.length, part.length);
      for (let i = next.length - 1; i >= 0; i--) todo.push(next[i] as Part);
    }
    return 0;
  }

  /** Sends one part until it is settled; returns the sub-parts still to send (in order). */
  private async sendPart(part: Part): Promise<Part[] | 'halted'> {
    const { config, random } = this.opts;
    const fast = new Backoff({ initialMs: config.retry.initial, maxMs: config.retry.max, random });
    const slow = new Backoff({ ...SLOW_RETRY, random });
    for (;;) {
      if (this.halted) return 'halted';
      let err: WriteError;
      try {
        this.opts.counters.inc('write_requests', { output: this.id });
        await this.opts.writer.write(part.join('\n'), part.length, this.abort.signal);
        this.written(part.length);
        return [];
      } catch (e) {
        err = otherWriteError(e);
      }
      if (this.halted) return 'halted';
      this.failed(err);
      switch (err.kind) {
        case 'retryable':
        case 'auth':
        case 'not_found': {
          this.opts.counters.inc('write_retries', { output: this.id, kind: err.kind });
          const delay = err.kind === 'retryable' ? fast.next(err.retryAfterMs) : slow.next(err.retryAfterMs);
          this.logRetry(err, delay);
          await this.sleeper.sleep(delay);
          continue;
        }
        case 'too_large':
          return part.length === 1 ? this.reject(part, err, 'too_large') : this.halves(part, err);
        case 'bad_request':
          if (err.partial) return this.partialWrite(part, err);
          if (part.length === 1) return this.reject(part, err, 'bad_request');
          this.warn('bisect', { points: part.length, error: err.message }, 'InfluxDB rejected a batch; isolating the bad lines');
          return this.halves(part, err);
        default:
          return this.reject(part, err, 'fatal');
      }
    }
  }

  /** Splits a part in two; after a 413 later requests are capped at the half's size too. */
  private halves(part: Part, err: WriteError): Part[] {
    this.opts.counters.inc('write_retries', { output: this.id, kind: err.kind });
    const mid = Math.ceil(part.length / 2);
    if (err.kind === 'too_large' && mid < this.requestLimit) {
      this.requestLimit = mid;
      this.opts.logger.warn({ output: this.id, max_points: mid, error: err.message }, `output ${this.id}: InfluxDB refused a request as too large; at most ${mid} points per request from now on`);
    }
    return [part.slice(0, mid), part.slice(mid)];
  }

  private partialWrite(part: Part, err: WriteError): Part[] {
    const dropped = err.dropped === undefined ? undefined : Math.min(err.dropped, part.length);
    this.opts.deadLetter.record({ reason: 'partial_write', output: this.id, message: `${err.message} (request of ${part.length} points; InfluxDB wrote the others)` });
    if (dropped) this.drop('partial_write', dropped);
    this.written(part.length - (dropped ?? 0));
    this.warn('partial', { dropped, error: err.message }, 'InfluxDB rejected part of a batch (recorded in the dead-letter file)');
    return [];
  }

  private reject(part: Part, err: WriteError, reason: 'too_large' | 'bad_request' | 'fatal'): Part[] {
    for (const line of part) this.opts.deadLetter.record({ reason, output: this.id, line, message: err.message });
    this.drop(reason, part.length);
    this.warn(reason, { points: part.length, reason, error: err.message }, 'points rejected by InfluxDB moved to the dead-letter file');
    return [];
  }

  private written(points: number): void {
    if (points > 0) this.opts.counters.inc('points_written', { output: this.id }, points);
    if (this.current.state === 'down') this.opts.logger.info({ output: this.id }, `output ${this.id}: writing again`);
    this.current = { ...this.current, state: 'up', lastSuccessAt: this.now() };
  }

  private failed(err: WriteError): void {
    const down = err.kind === 'retryable' || err.kind === 'auth' || err.kind === 'not_found';
    this.current = { ...this.current, state: down ? 'down' : this.current.state, lastError: err.message, lastErrorKind: err.kind, lastErrorAt: this.now() };
  }

  private logRetry(err: WriteError, delayMs: number): void {
    const fields = { status: err.status, error: err.message, retry_in_ms: delayMs, pending_points: this.pendingPoints };
    if (err.kind === 'retryable') this.warn('retry', fields, 'write failed, retrying');
    else if (this.fixLimiter.take(err.kind) >= 0) this.opts.logger.error({ output: this.id, ...fields }, `output ${this.id}: ${fixHint(this.opts.config, err)}`);
  }

  private enforceCap(): void {
    const over = this.pendingBytes - this.opts.config.max_pending;
    if (over <= 0) return;
    const n = this.queue.dropOldest(over);
    if (n === 0) return;
    this.drop('memory_full', n);
    const total = this.opts.counters.get('dropped_points', { output: this.id, reason: 'memory_full' });
    this.warn('memory_full', { dropped: n, dropped_total: total, max_pending: this.opts.config.max_pending }, 'pending data over max_pending, oldest points dropped');
  }

  /** A warning, at most one per `key` every 10 s. */
  private warn(key: string, fields: object, msg: string): void {
    if (this.warnLimiter.take(key) >= 0) this.opts.logger.warn({ output: this.id, ...fields }, `output ${this.id}: ${msg}`);
  }

  private drop(reason: string, points: number): void {
    this.opts.counters.inc('dropped_points', { output: this.id, reason }, points);
  }

  private idle(): Promise<void> {
    if (this.active === 0 && this.queue.points === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = () => {
        this.onIdle = undefined;
        resolve();
      };
    });
  }
}
