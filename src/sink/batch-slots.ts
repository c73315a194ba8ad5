/**
 * The batches of one drain between its batcher and its output: at most `concurrency`
 * written at once, the others queued oldest first. A batch a halt cut short is kept as
 * abandoned, so that `lowestSeq()` (and with it the drain's cursor) stays below it and
 * the next start writes it again. A batch whose write ended otherwise (written or
 * dead-lettered) gives its buffer back for a later batch (LineBatch.recycle).
 */
import type { Batch } from './batcher.js';
import type { Output } from './output.js';

export class BatchSlots {
  private readonly queue: Batch[] = [];
  private readonly inFlight = new Set<Batch>();
  private readonly abandoned: Batch[] = [];
  private readonly writes = new Set<Promise<void>>();
  private halted = false;

  /** `onSettled` runs after each write ended (written, dead-lettered or halted). */
  constructor(
    private readonly output: Output,
    private readonly concurrency: number,
    private readonly onSettled: () => void,
  ) {}

  /** Batches waiting for a free slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Batches queued or being written. */
  get busy(): number {
    return this.queue.length + this.inFlight.size;
  }

  push(batch: Batch): void {
    this.queue.push(batch);
    this.pump();
  }

  /** Lines in the batches queued or being written. */
  get lines(): number {
    let n = 0;
    for (const list of [this.queue, this.inFlight]) for (const b of list) n += b.lines.length;
    return n;
  }

  /** The lowest seq in a batch not written yet, or undefined. */
  lowestSeq(): number | undefined {
    let low: number | undefined;
    for (const list of [this.queue, this.inFlight, this.abandoned]) for (const b of list) if (low === undefined || b.minSeq < low) low = b.minSeq;
    return low;
  }

  /** Sends nothing more (the output was halted too: writes in flight end as 'halted'). */
  halt(): void {
    this.halted = true;
  }

  /** Resolves when every write in flight has ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private pump(): void {
    while (!this.halted && this.inFlight.size < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.shift() as Batch;
      this.inFlight.add(batch);
      const write: Promise<void> = this.output.write(batch.lines).then((outcome) => {
        this.writes.delete(write);
        this.inFlight.delete(batch);
        if (outcome === 'halted') this.abandoned.push(batch);
        else batch.lines.recycle(); // written or dead-lettered: its buffer takes a later batch
        this.pump();
        this.onSettled();
      });
      this.writes.add(write);
    }
  }
}
