/**
 * Groups one output's encoded lines into batches (kept as bytes, see line-batch.ts): a
 * batch is emitted when it holds `maxPoints` lines or `maxAgeMs` after its first line,
 * whichever comes first; never empty. Each batch carries the lowest journal seq among its
 * lines (`minSeq`), and `lowestSeq()` tells the drain which seq the partial batch still
 * holds.
 *
 * Not an RxJS operator, because the drain needs what an
 * operator hides: the seqs held in the partial batch, and a flush on stop that does not
 * complete the stream above it (in durable mode the shaping stage's open windows stay in
 * the journal instead of being closed early). Its input is paced by the drain, which
 * reads from the journal only when the output has room: that is the backpressure.
 */
import { LineWriter, type LineBatch } from './line-batch.js';
import { globalTimers, type Timers } from '../util/timers.js';

export interface Batch {
  readonly lines: LineBatch;
  /** The lowest journal seq among the lines. */
  readonly minSeq: number;
}

export class Batcher {
  private readonly lines = new LineWriter();
  private minSeq = Infinity;
  private timer: unknown;

  constructor(
    private readonly maxPoints: number,
    private readonly maxAgeMs: number,
    private readonly emit: (batch: Batch) => void,
    private readonly timers: Timers = globalTimers,
  ) {
    if (!(maxPoints >= 1)) throw new RangeError(`batcher: maxPoints must be >= 1, got ${maxPoints}`);
  }

  /** Lines waiting in the partial batch. */
  get size(): number {
    return this.lines.length;
  }

  add(line: string, seq: number): void {
    this.lines.add(line);
    if (seq < this.minSeq) this.minSeq = seq;
    if (this.lines.length >= this.maxPoints) this.flush();
    else if (this.timer === undefined) this.timer = this.timers.setTimeout(() => this.onAge(), this.maxAgeMs);
  }

  /** The lowest seq in the partial batch, or undefined when it is empty. */
  lowestSeq(): number | undefined {
    return this.lines.length > 0 ? this.minSeq : undefined;
  }

  /** Emits the partial batch now (if any) and frees the timer. */
  flush(): void {
    this.cancelTimer();
    if (this.lines.length === 0) return;
    const batch = { lines: this.lines.take(), minSeq: this.minSeq };
    this.minSeq = Infinity;
    this.emit(batch);
  }

  /** Forgets the partial batch and frees the timer. */
  clear(): void {
    this.cancelTimer();
    this.lines.clear();
    this.minSeq = Infinity;
  }

  private onAge(): void {
    this.timer = undefined;
    this.flush();
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
