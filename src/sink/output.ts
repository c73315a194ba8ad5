/**
 * One configured output's write policy: `write(lines)` sends one batch of line protocol
 * and settles it according to what InfluxDB answers (write-error.ts). The data itself
 * waits in the journal: a drain (drain.ts) reads it, batches it, calls `write()` with up
 * to `concurrency` batches at once, and commits its cursor once they are settled. So
 * nothing here is dropped to save memory, and an unreachable InfluxDB only costs time.
 *
 * By error kind:
 * - retryable (network, timeout, 5xx, 429) → backoff (util/backoff.ts), at least
 *   Retry-After, retried until halted; the output is `down`. When InfluxDB did not answer
 *   at all (refused, reset, timeout), it is also probed every `PROBE_MS` with a request
 *   that carries no data (`Writer.ping`, InfluxDB's `/ping`): the moment it answers, the
 *   waiting writes are tried again, so a return is noticed within about a second however
 *   long the backoff has grown. An HTTP error (5xx, 429) waits its backoff: that server
 *   is up and asked us to slow down.
 * - too_large (413) → split in halves (later requests are capped at the half too); a lone
 *   line that is still too large is dead-lettered.
 * - bad_request (400) → bisected until each bad line is isolated and dead-lettered with
 *   InfluxDB's message; partial (InfluxDB wrote the rest, e.g. a field type conflict) →
 *   one dead-letter record with InfluxDB's reason, its `dropped=N` counted, settled.
 * - auth / not_found (401, 403, 404) → data kept, slow retry, the exact fix logged as an
 *   error at most once a minute; the output is `degraded` (it needs a human).
 * - fatal (any other 4xx, a bug) → dead-lettered.
 * Counters: points_written{output}, write_requests{output}, write_retries{output,kind},
 * points_dropped{output,reason}.
 */
import type { OutputConfig } from '../config/types.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import { Backoff } from '../util/backoff.js';
import type { DeadLetterSink } from './dead-letter.js';
import type { Writer } from './influx-writer.js';
import type { LineBatch } from './line-batch.js';
import { Sleeper } from '../util/sleeper.js';
import type { Timers } from '../util/timers.js';
import { fixHint, otherWriteError, WRITE_ERROR_CODES, type WriteError, type WriteErrorKind } from './write-error.js';

export type { Timers } from '../util/timers.js';

export interface OutputOptions {
  readonly config: OutputConfig;
  /** The output owns it from now on and closes it in `close()`. */
  readonly writer: Writer;
  /** Names the output already (the daemon gives a child logger with `output`): log lines do not repeat it. */
  readonly logger: Logger;
  readonly counters: Counters;
  readonly deadLetter: DeadLetterSink;
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
}

/**
 * `down`: the last request failed for a reason that may pass by itself (network, 5xx, 429);
 * `degraded`: InfluxDB answers but refuses (credentials, missing database/bucket, wrong URL):
 * someone has to fix the config or the server. Times in ms.
 */
export interface OutputStatus {
  readonly state: 'up' | 'down' | 'degraded';
  readonly lastError?: string;
  readonly lastErrorKind?: WriteErrorKind;
  readonly lastErrorAt?: number;
  readonly lastSuccessAt?: number;
  /** When the output stopped writing: its first failure since the last success (kept across retries); absent while up. */
  readonly downSince?: number;
}

/** How `write()` ended: every line settled (written, or dead-lettered per its error), or cut short by `halt()`. */
export type WriteOutcome = 'settled' | 'halted';

/** How often a down output is probed (`Writer.ping`); each probe's timeout is the same. */
export const PROBE_MS = 1000;

/** Slow retry while InfluxDB refuses the credentials or the database/bucket is missing. */
const SLOW_RETRY = { initialMs: 30_000, maxMs: 120_000 } as const;

export class Output {
  readonly id: string;
  readonly config: OutputConfig;
  private halted = false;
  private closed = false;
  private requestLimit: number;
  private readonly abort = new AbortController();
  private current: OutputStatus = { state: 'up' };
  private readonly sleeper: Sleeper;
  private readonly now: () => number;
  private readonly warnLimiter: RateLimiter;
  private readonly fixLimiter: RateLimiter;
  /** Resolves when a probe got an answer (or the output halts); shared by every waiting write. */
  private answered: Promise<void> | undefined;
  private probeWaiters = 0;

  constructor(private readonly opts: OutputOptions) {
    this.config = opts.config;
    this.id = opts.config.id;
    this.sleeper = new Sleeper(opts.timers);
    const now = (this.now = opts.now ?? Date.now);
    this.requestLimit = Math.max(1, opts.config.batch.max_points);
    this.warnLimiter = new RateLimiter(10_000, () => now());
    this.fixLimiter = new RateLimiter(60_000, () => now());
  }

  get status(): OutputStatus {
    return this.current;
  }

  /**
   * Writes one batch (in requests of at most `batch.max_points` lines, fewer after a 413),
   * retrying and splitting as the errors demand. Resolves 'settled' when every line was
   * written or dead-lettered, 'halted' when `halt()` ended it first (some lines may have
   * been written: the caller keeps the batch and writes it again later, which InfluxDB
   * takes as the same points). Never rejects.
   */
  async write(lines: LineBatch): Promise<WriteOutcome> {
    if (this.halted) return 'halted';
    try {
      return await this.deliver(lines);
    } catch (err) {
      this.drop('fatal', lines.length);
      this.opts.logger.error({ err }, `output ${this.id}: internal error, ${lines.length} points lost`);
      return 'settled';
    }
  }

  /** Ends every backoff now: each waiting request gets one immediate try (at a shutdown). */
  wake(): void {
    this.sleeper.wakeAll();
  }

  /** Aborts requests in flight and stops retrying: pending `write()`s resolve 'halted'. */
  halt(): void {
    this.halted = true;
    this.abort.abort();
    this.sleeper.wakeAll();
  }

  /** Frees the writer's connections; `write()` must not be called afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.halt();
    this.opts.writer.close?.();
  }

  private async deliver(lines: LineBatch): Promise<WriteOutcome> {
    const todo: LineBatch[] = [];
    const limit = this.requestLimit;
    if (lines.length <= limit) todo.push(lines);
    else for (let start = Math.floor((lines.length - 1) / limit) * limit; start >= 0; start -= limit) todo.push(lines.slice(start, start + limit));
    while (todo.length > 0) {
      const part = todo.pop() as LineBatch;
      const next = await this.sendPart(part);
      if (next === 'halted') return 'halted';
      for (let i = next.length - 1; i >= 0; i--) todo.push(next[i] as LineBatch);
    }
    return 'settled';
  }

  /** Sends one part until it is settled; returns the sub-parts still to send (in order). */
  private async sendPart(part: LineBatch): Promise<LineBatch[] | 'halted'> {
    const { config, random } = this.opts;
    const fast = new Backoff({ initialMs: config.retry.initial, maxMs: config.retry.max, random });
    const slow = new Backoff({ ...SLOW_RETRY, random });
    for (;;) {
      if (this.halted) return 'halted';
      let err: WriteError;
      try {
        this.opts.counters.inc('write_requests', { output: this.id });
        await this.opts.writer.write(part.bytes(), part.length, this.abort.signal);
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
          this.logRetry(err, delay, part.length);
          if (err.kind === 'retryable' && err.status === undefined && this.opts.writer.ping) await this.sleepOrAnswer(delay);
          else await this.sleeper.sleep(delay);
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

  /** Waits `delayMs`, or less when a probe finds the server answering again. */
  private async sleepOrAnswer(delayMs: number): Promise<void> {
    this.probeWaiters++;
    try {
      await this.sleeper.sleep(delayMs, (this.answered ??= this.probe().finally(() => (this.answered = undefined))));
    } finally {
      this.probeWaiters--;
    }
  }

  /** Pings every PROBE_MS while writes wait; resolves at the first answer, a halt, or when nobody waits. */
  private async probe(): Promise<void> {
    const ping = this.opts.writer.ping?.bind(this.opts.writer);
    while (ping && !this.halted && this.probeWaiters > 0) {
      await this.sleeper.sleep(PROBE_MS);
      if (this.halted || this.probeWaiters === 0) return;
      this.opts.counters.inc('write_probes', { output: this.id });
      if (await ping(PROBE_MS, this.abort.signal)) {
        this.opts.logger.info({ output: this.id }, `output ${this.id}: InfluxDB answers again, retrying the writes now`);
        return;
      }
    }
  }

  /** Splits a part in two; after a 413 later requests are capped at the half's size too. */
  private halves(part: LineBatch, err: WriteError): LineBatch[] {
    this.opts.counters.inc('write_retries', { output: this.id, kind: err.kind });
    const mid = Math.ceil(part.length / 2);
    if (err.kind === 'too_large' && mid < this.requestLimit) {
      this.requestLimit = mid;
      this.opts.logger.warn(
        { code: 'EFX_OUTPUT_TOO_LARGE', max_points: mid, error: err.message },
        `output ${this.id}: InfluxDB refused a request as too large; at most ${mid} points per request from now on`,
      );
    }
    return [part.slice(0, mid), part.slice(mid)];
  }

  private partialWrite(part: LineBatch, err: WriteError): LineBatch[] {
    const dropped = err.dropped === undefined ? undefined : Math.min(err.dropped, part.length);
    this.opts.deadLetter.record({
      reason: 'partial_write',
      code: 'EFX_OUTPUT_REJECTED',
      output: this.id,
      message: `${err.message} (request of ${part.length} points; InfluxDB wrote the others)`,
    });
    if (dropped) this.drop('partial_write', dropped);
    this.written(part.length - (dropped ?? 0));
    this.warn('partial', { code: 'EFX_OUTPUT_REJECTED', dropped, error: err.message }, 'InfluxDB rejected part of a batch (recorded in the dead-letter file)');
    return [];
  }

  private reject(part: LineBatch, err: WriteError, reason: 'too_large' | 'bad_request' | 'fatal'): LineBatch[] {
    for (const line of part) this.opts.deadLetter.record({ reason, code: WRITE_ERROR_CODES[err.kind], output: this.id, line, message: err.message });
    this.drop(reason, part.length);
    this.warn(
      reason,
      { code: WRITE_ERROR_CODES[err.kind], points: part.length, reason, error: err.message },
      'points rejected by InfluxDB moved to the dead-letter file',
    );
    return [];
  }

  private written(points: number): void {
    if (points > 0) this.opts.counters.inc('points_written', { output: this.id }, points);
    if (this.current.state !== 'up') this.opts.logger.info(`output ${this.id}: writing again`);
    const { downSince: _, ...rest } = this.current;
    this.current = { ...rest, state: 'up', lastSuccessAt: this.now() };
  }

  private failed(err: WriteError): void {
    const state = err.kind === 'retryable' ? 'down' : err.kind === 'auth' || err.kind === 'not_found' ? 'degraded' : this.current.state;
    const at = this.now();
    this.current = {
      ...this.current,
      state,
      lastError: err.message,
      lastErrorKind: err.kind,
      lastErrorAt: at,
      ...(state !== 'up' && { downSince: this.current.downSince ?? at }),
    };
  }

  private logRetry(err: WriteError, delayMs: number, points: number): void {
    const fields = { code: WRITE_ERROR_CODES[err.kind], status: err.status, error: err.message, retry_in_ms: delayMs, points };
    if (err.kind === 'retryable') this.warn('retry', fields, 'write failed, retrying (the data waits in the spool)');
    else if (this.fixLimiter.take(err.kind) >= 0) this.opts.logger.error(fields, `output ${this.id}: ${fixHint(this.opts.config, err)}`);
  }

  /** A warning, at most one per `key` every 10 s. */
  private warn(key: string, fields: object, msg: string): void {
    if (this.warnLimiter.take(key) >= 0) this.opts.logger.warn(fields, `output ${this.id}: ${msg}`);
  }

  private drop(reason: string, points: number): void {
    this.opts.counters.inc('points_dropped', { output: this.id, reason }, points);
  }
}
