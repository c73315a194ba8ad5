/**
 * One output's drain: reads the journal from the output's own cursor, oldest first,
 * decodes each message, passes the readings through the shaping stage (PointPipeline),
 * encodes and batches them, writes the batches through the Output (up to `concurrency` at
 * once), and commits the cursor up to the lowest seq that is not written yet. So:
 * - a dead output never blocks a live one: each drain lags on its own cursor;
 * - after a restart the records past the cursor are written again (that is the replay);
 * - memory stays bounded whatever the backlog: the drain reads only while no batch waits
 *   for a free request slot, so at most `concurrency` batches in flight, one read's worth
 *   waiting and one partial batch are in memory; the rest waits in the journal.
 *
 * The cursor is the lowest of: the next unread seq, the lowest seq in the partial batch,
 * in a batch waiting, in flight or abandoned by a halt, and the lowest seq the shaping
 * stage still holds, lowered further by the stage's `commitBound` (never inside an
 * aggregate's seq range). Every record below it is written (or dead-lettered, or produced
 * nothing); batches finishing out of order never move it past one still in flight.
 *
 * The shaping stage's replay state (pipeline/replay-state.ts), when it keeps one, is saved
 * with the cursor (`journal.setStateSource`): `committed(cursor)` after every commit makes
 * it the state as of that cursor, and a start restores what was saved, so a restart at any
 * record decides late or not as the run before did. The cursor then only waits for open
 * windows and unwritten batches (`replayLag` counts how far it is behind the oldest
 * record an open window or the read position needs).
 *
 * The shaping stage's StreamClock, when given, is moved to each record's arrival time before
 * the record is fed, and with the wall clock while caught up (clock-ticker.ts): a replay
 * fires the operators' timers (idle windows, debounce) where the live run did.
 *
 * Batches go out at `batch.max_points` or `batch.max_age`, except at the end of a backlog
 * (the drain was behind by a full read, or started behind): once it reaches the head, the
 * last partial batch goes at once instead of waiting `max_age` for live data to fill it.
 *
 * Seqs missing from a read: below the journal's oldest record the quota dropped them
 * (messages_dropped{output,reason="quota"}); at or above it they are read again once,
 * then counted as reason="damaged". Progress is logged while catching up (drain-progress.ts).
 */
import { Subject, type Subscription } from '../util/rx.js';
import type { Journal, JournalRecord } from '../journal/journal.js';
import { recordBytes } from '../journal/block-codec.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { passThrough, type PointPipeline, type TrackedReading } from '../pipeline/tracked.js';
import { decodeError, isDecodeError, type DecodeError, type Reading } from '../types.js';
import { BatchSlots } from './batch-slots.js';
import { Batcher } from './batcher.js';
import { DrainProgress } from './drain-progress.js';
import { encodeLine } from './line-protocol.js';
import type { Output } from './output.js';
import type { StreamClock } from '../pipeline/stream-clock.js';
import { ClockTicker } from './clock-ticker.js';
import { Sleeper } from '../util/sleeper.js';
import { globalTimers, type Timers } from '../util/timers.js';
import { settlesWithin } from '../util/timeout.js';
import { Wakeup } from '../util/wakeup.js';
import { JournalGaps } from './journal-gaps.js';

export interface DrainOptions {
  readonly journal: Journal;
  readonly output: Output;
  /** Decodes one journaled message (deterministic: a replay yields the same readings). */
  readonly decode: (rec: JournalRecord) => readonly Reading[] | DecodeError;
  /** Messages that no longer decode; given to one drain only, so each is dead-lettered once. */
  readonly onDecodeError?: (rec: JournalRecord, err: DecodeError) => void;
  readonly pipeline?: PointPipeline;
  /** The pipeline's scheduler, moved by the drain (see the module comment); absent: the pipeline keeps its own time. */
  readonly clock?: StreamClock;
  /**
   * The shaping route of a record's readings (`TrackedReading.route`, e.g. its rule's
   * index), or `'bypass'`: written as they are, not shaped (edgeflux's own figures).
   */
  readonly route?: (rec: JournalRecord) => number | 'bypass' | undefined;
  /** Names the output already (the daemon gives a child logger with `output`): log lines do not repeat it. */
  readonly logger: Logger;
  readonly counters: Counters;
  /** Called after the cursor moved (space may have been freed in the journal). */
  readonly onCommit?: () => void;
  readonly timers?: Timers;
  readonly now?: () => number;
  /** Progress log interval while behind; default 10 s. */
  readonly progressEveryMs?: number;
}

export interface DrainStopResult {
  /** Messages journaled but not (fully) written by this output: they stay in a durable journal. */
  readonly left: number;
}

/** A read aims at about this many payload bytes (bounds memory when messages are large). */
const READ_BYTES = 256 * 1024;
const MIN_READ = 16;
/**
 * And at most this many records, however small: a read's records live until the last is
 * fed, and 5000 of them (~440 KB of objects, fed over ~12 ms) outlived two young-generation
 * collections and were promoted to the old one, twice the garbage-collection pause time of
 * a drain reading 1024 at a time (bench/RESULTS.md, 2026-12-06).
 */
const MAX_READ = 1024;
const HALT_GRACE_MS = 1000;
const READ_ERROR_PAUSE_MS = 1000;

export class Drain {
  readonly id: string;
  private readonly journal: Journal;
  readonly output: Output;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly sleeper: Sleeper;
  private readonly pipeline: PointPipeline;
  /** No shaping stage: readings go straight to the batches, not through the RxJS Subject. */
  private readonly direct: boolean;
  private readonly batcher: Batcher;
  private readonly maxPoints: number;
  private readonly input = new Subject<TrackedReading>();
  private readonly wakeup = new Wakeup();
  private readonly slots: BatchSlots;
  private subscription: Subscription | undefined;
  private unlisten: (() => void) | undefined;
  private readonly progress: DrainProgress;
  private loop: Promise<void> | undefined;
  private phase: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private halting = false;
  private failed = false;
  private stopAt = Infinity;
  private readPos = 0;
  private committed = 0;
  private readCount: number;
  /** Behind the head by a full read (or a backlog at start) since the last time it caught up. */
  private behind = false;
  private readonly gaps: JournalGaps;
  private ticker: ClockTicker | undefined;

  constructor(private readonly opts: DrainOptions) {
    this.journal = opts.journal;
    this.output = opts.output;
    this.id = opts.output.id;
    this.log = opts.logger;
    this.timers = opts.timers ?? globalTimers;
    this.sleeper = new Sleeper(this.timers);
    this.pipeline = opts.pipeline ?? passThrough();
    this.gaps = new JournalGaps(this.id, this.journal, opts.counters, this.log);
    this.direct = opts.pipeline === undefined;
    const { batch, concurrency } = opts.output.config;
    this.slots = new BatchSlots(opts.output, Math.max(1, concurrency), () => {
      this.commit();
      this.wakeup.wake();
    });
    this.maxPoints = batch.max_points;
    this.readCount = Math.max(MIN_READ, Math.min(batch.max_points, MAX_READ));
    this.batcher = new Batcher(batch.max_points, batch.max_age, (b) => this.slots.push(b), this.timers);
    this.progress = new DrainProgress({
      id: this.id,
      logger: this.log,
      timers: this.timers,
      now: opts.now ?? Date.now,
      everyMs: opts.progressEveryMs ?? 10_000,
      threshold: batch.max_points,
      position: () => ({ cursor: this.committed, head: this.journal.stats().headSeq }),
    });
  }

  /** The committed cursor (the next seq this output needs) and how many messages it is behind the head. */
  get lag(): { readonly cursor: number; readonly behind: number } {
    return { cursor: this.committed, behind: Math.max(0, this.journal.stats().headSeq - this.committed) };
  }

  /**
   * Journaled messages this output has not read yet, and points made from what it read but
   * not written yet (the partial batch, batches waiting or in flight). Both 0: every point
   * the journal's records make so far is written, but for those of windows still open.
   */
  get pending(): { readonly unread: number; readonly unwritten: number } {
    return { unread: Math.max(0, this.journal.stats().headSeq - this.readPos), unwritten: this.batcher.size + this.slots.lines };
  }

  /**
   * How many messages the cursor is behind the oldest record the shaping stage holds (an
   * open window) or, with none held, the read position: what a restart replays beyond
   * what it must (points not yet written, a throttle mean's range).
   */
  get replayLag(): number {
    const held = this.pipeline.lowestHeld();
    const needed = held !== undefined && held < this.readPos ? held : this.readPos;
    return Math.max(0, needed - this.committed);
  }

  /** Registers the consumer (the caller did `journal.addConsumer(id)`) and starts reading from its cursor. */
  start(): void {
    if (this.phase !== 'new') return;
    this.phase = 'running';
    this.readPos = this.committed = this.journal.cursor(this.id);
    this.restoreState();
    const backlog = this.journal.stats().headSeq - this.readPos;
    this.behind = backlog > 0;
    if (backlog > 0) this.log.info({ messages: backlog, cursor: this.readPos }, `output ${this.id}: ${backlog} messages in the journal to write`);
    this.subscription = this.input.pipe(this.pipeline.operator).subscribe({
      next: (t) => this.encodeReading(t.reading, t.seq),
      error: (err: unknown) => {
        this.failed = true;
        this.log.error({ err }, `output ${this.id}: the pipeline failed; its data stays in the journal until a restart`);
        this.wakeup.wake();
      },
    });
    this.unlisten = this.journal.onAppend(() => this.wakeup.wake());
    this.progress.start();
    if (this.opts.clock) {
      this.ticker = new ClockTicker({
        clock: this.opts.clock,
        timers: this.timers,
        now: this.opts.now ?? Date.now,
        // Only while running: once stopping, no timer may emit into a batch about to be dropped.
        caughtUp: () => this.phase === 'running' && !this.failed && this.readPos >= this.journal.stats().headSeq,
        moved: () => this.commit(), // a window closed by the clock may have released the lowest hold
      });
      this.ticker.start();
    }
    this.loop = this.run().catch((err: unknown) => {
      this.failed = true;
      this.log.error({ err }, `output ${this.id}: drain failed; its data stays in the journal until a restart`);
    });
  }

  /**
   * Writes what was journaled up to now, within `timeoutMs`; then halts the output (what
   * is unwritten stays behind the cursor). `closePipeline` also flushes the shaping
   * stage's state (memory mode: nothing would replay it); otherwise open windows stay in
   * the journal for the next start.
   */
  async stop(timeoutMs: number, closePipeline: boolean): Promise<DrainStopResult> {
    if (this.phase === 'running') {
      this.phase = 'stopping';
      this.stopAt = this.journal.stats().headSeq;
      this.wakeup.wake();
      this.output.wake();
      const done = await settlesWithin(this.finish(closePipeline), timeoutMs, this.timers);
      if (!done) {
        this.halting = true;
        this.slots.halt();
        this.output.halt();
        this.wakeup.wake();
        await settlesWithin(Promise.all([this.loop, this.slots.settled()]), HALT_GRACE_MS, this.timers);
      }
    }
    if (this.phase !== 'stopped') {
      this.phase = 'stopped';
      this.halting = true;
      this.progress.stop();
      this.ticker?.stop();
      this.sleeper.wakeAll();
      this.unlisten?.();
      this.subscription?.unsubscribe();
      this.batcher.clear();
      this.commit();
      this.output.close();
    }
    return { left: Math.max(0, this.journal.stats().headSeq - this.committed) };
  }

  /** Takes the state saved with the cursor back into the shaping stage, and saves it from now on. */
  private restoreState(): void {
    const { restore, snapshot } = this.pipeline;
    if (restore === undefined || snapshot === undefined) return;
    const saved = this.journal.savedState(this.id);
    if (saved !== undefined && !restore.call(this.pipeline, saved, this.committed)) {
      this.log.warn(
        { output: this.id, cursor: this.committed },
        `output ${this.id}: the shaping state saved with the cursor does not fit it; replaying without it (a late reading may be taken as on time)`,
      );
    }
    this.journal.setStateSource(this.id, () => snapshot.call(this.pipeline));
  }

  private async finish(closePipeline: boolean): Promise<void> {
    await this.loop;
    if (this.halting) return; // the stop timed out meanwhile
    if (closePipeline) this.input.complete();
    this.batcher.flush();
    while (this.slots.busy > 0) await this.wakeup.wait();
  }

  private async run(): Promise<void> {
    while (!this.halting && !this.failed && this.readPos < this.stopAt) {
      if (this.slots.waiting > 0) {
        await this.wakeup.wait(); // the output has no room: let the data wait in the journal
        continue;
      }
      const from = this.readPos;
      const count = this.readCount;
      const records = await this.read(from, count);
      if (records === undefined) continue;
      if (this.halting) return;
      if (records.length === 0) {
        if (this.skipDropped(from)) continue;
        if (this.stopAt !== Infinity) return;
        await this.wakeup.wait(); // at the head: wait for an append
        if (this.stopAt === Infinity) await this.wakeup.nextTurn(); // one read per I/O turn, not per message
        continue;
      }
      this.feedAll(records, from);
      if (records.length >= count) this.behind = true;
      else if (this.behind && this.readPos >= this.journal.stats().headSeq) {
        this.behind = false;
        this.batcher.flush(); // the backlog's last partial batch: more is not coming faster than live
      }
      this.commit();
    }
  }

  /** Up to `count` records from `from`; undefined (after a pause) when the journal cannot be read. */
  private async read(from: number, count: number): Promise<JournalRecord[] | undefined> {
    try {
      return await this.journal.read(from, count);
    } catch (err) {
      this.log.error({ err }, `output ${this.id}: cannot read the journal; retrying`);
      await this.sleeper.sleep(READ_ERROR_PAUSE_MS);
      return undefined;
    }
  }

  /** An empty read below the journal's oldest record: the quota dropped `from..oldest`; moves past them. */
  private skipDropped(from: number): boolean {
    const { oldestSeq } = this.journal.stats();
    if (from >= oldestSeq) return false;
    this.gaps.count(oldestSeq - from, 'quota');
    this.readPos = oldestSeq;
    this.commit();
    return true;
  }

  /**
   * Feeds the records of a read in seq order, up to a gap that is to be read again; moves
   * the read position past them and sizes the next read to about READ_BYTES.
   */
  private feedAll(records: JournalRecord[], from: number): void {
    let expected = from;
    let bytes = 0;
    let fed = 0;
    for (const rec of records) {
      if (rec.seq > expected && !this.gaps.accept(expected, rec.seq)) break;
      expected = rec.seq + 1;
      this.feed(rec);
      bytes += recordBytes(rec);
      fed++;
    }
    this.readPos = expected;
    if (fed > 0) this.readCount = Math.max(MIN_READ, Math.min(this.maxPoints, MAX_READ, Math.floor(READ_BYTES / Math.max(1, bytes / fed))));
  }

  private feed(rec: JournalRecord): void {
    this.opts.clock?.advanceTo(Number(rec.receivedAt / 1_000_000n));
    let readings: readonly Reading[] | DecodeError;
    try {
      readings = this.opts.decode(rec);
    } catch (err) {
      readings = decodeError('internal_error', err instanceof Error ? err.message : String(err));
    }
    if (isDecodeError(readings)) {
      this.opts.onDecodeError?.(rec, readings);
      return;
    }
    const route = this.direct ? 'bypass' : this.opts.route?.(rec);
    if (route !== 'bypass') this.pipeline.feeding?.(rec.seq);
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i] as Reading;
      if (route === 'bypass') this.encodeReading(reading, rec.seq);
      else this.input.next(route === undefined ? { seq: rec.seq, reading } : { seq: rec.seq, reading, route });
    }
  }

  private encodeReading(reading: Reading, seq: number): void {
    const line = encodeLine(reading);
    if (line === null) this.opts.counters.inc('readings_dropped', { output: this.id, reason: 'no_valid_field' });
    else this.batcher.add(line, seq);
  }

  /** Moves the cursor to the lowest seq not yet written (see the module comment). */
  private commit(): void {
    let low = this.readPos;
    for (const s of [this.batcher.lowestSeq(), this.pipeline.lowestHeld(), this.slots.lowestSeq()]) if (s !== undefined && s < low) low = s;
    if (this.pipeline.commitBound) low = this.pipeline.commitBound(low);
    if (low <= this.committed) return;
    this.journal.commit(this.id, low);
    this.committed = low;
    this.pipeline.committed?.(low);
    this.opts.onCommit?.();
  }
}
