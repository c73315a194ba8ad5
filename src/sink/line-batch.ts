/**
 * Lines of line protocol kept as UTF-8 bytes, each followed by "\n", in one Buffer with
 * the offset of every line: what a batch holds between the encoder and the request.
 *
 * Why bytes and not an array of strings: a batch lives for up to `batch.max_age` (and for
 * the whole outage while a write is retried), long enough for the V8 young generation to
 * promote whatever it references. A line built by string concatenation is a tree of
 * small strings that also keeps the decoded reading's strings alive; thousands of those
 * per second promoted into the old generation made the heap (and RSS) grow by tens of MB
 * between major collections. Written into a Buffer, each line's strings die young, and
 * the batch is a single off-heap allocation the GC never traverses.
 *
 * `LineBatch` is an immutable view (slicing shares the bytes); `LineWriter` fills one.
 */

/** The bytes a batch and its slices share, and where they go back to once written. */
interface Store {
  readonly buf: Buffer;
  /** Start offset of each line in `buf`, plus the end of the last: length = lines + 1. */
  readonly offs: readonly number[];
  /** Takes the buffer back for the next batch (the LineWriter that filled it). */
  readonly back: ((buf: Buffer) => void) | undefined;
  recycled: boolean;
}

/** A run of lines sharing one buffer. */
export class LineBatch {
  private constructor(
    private readonly store: Store,
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** A batch of these lines (each must be one line, without "\n"). */
  static of(lines: readonly string[]): LineBatch {
    const w = new LineWriter();
    for (const l of lines) w.add(l);
    return w.take();
  }

  /** @internal used by LineWriter */
  static view(buf: Buffer, offs: readonly number[], back?: (buf: Buffer) => void): LineBatch {
    return new LineBatch({ buf, offs, back, recycled: false }, 0, offs.length - 1);
  }

  get length(): number {
    return this.to - this.from;
  }

  /** Lines `start` to `end - 1` of this batch. */
  slice(start: number, end: number = this.length): LineBatch {
    const s = Math.max(0, Math.min(start, this.length));
    const e = Math.max(s, Math.min(end, this.length));
    return new LineBatch(this.store, this.from + s, this.from + e);
  }

  /** The lines joined by "\n" (no trailing newline): a request body. */
  text(): string {
    if (this.to === this.from) return '';
    const { buf, offs } = this.live();
    return buf.toString('utf8', offs[this.from], (offs[this.to] as number) - 1);
  }

  /** The lines joined by "\n" (no trailing newline) as UTF-8 bytes: a view, not a copy. */
  bytes(): Buffer {
    if (this.to === this.from) return EMPTY;
    const { buf, offs } = this.live();
    return buf.subarray(offs[this.from], (offs[this.to] as number) - 1);
  }

  /** Line `i` (0-based) without its newline. */
  line(i: number): string {
    const k = this.from + i;
    if (i < 0 || k >= this.to) throw new RangeError(`line ${i} of a batch of ${this.length}`);
    const { buf, offs } = this.live();
    return buf.toString('utf8', offs[k], (offs[k + 1] as number) - 1);
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = 0; i < this.length; i++) yield this.line(i);
  }

  /**
   * The batch (with every slice of it) is done with: its buffer goes back to the writer
   * that filled it, for a later batch. Reading it afterwards throws instead of returning
   * another batch's bytes. Call it once the batch's fate is settled (written or
   * dead-lettered) and no request holds its bytes (the HTTP transport copies them).
   */
  recycle(): void {
    const s = this.store;
    if (s.recycled) return;
    s.recycled = true;
    s.back?.(s.buf);
  }

  private live(): Store {
    if (this.store.recycled) throw new Error('line batch read after it was recycled');
    return this.store;
  }
}

const MIN_CAPACITY = 16 * 1024;
const EMPTY = Buffer.alloc(0);
/** Lines gathered before they are written into the buffer together. */
const PENDING_LINES = 64;
/** Buffers of recycled batches kept for the next ones. */
const SPARE_BUFFERS = 2;

/**
 * Appends lines to a growing buffer until `take()` hands them over as a LineBatch. The
 * next buffer starts at the size the last batch needed, so a steady stream grows it once.
 *
 * Lines are written 64 at a time: joined into one string, which one `Buffer#write` copies
 * in (one native call and one flat string per 64 lines instead of per line: ~145 → ~75 ns
 * a line). A line's offset is its UTF-8 byte length.
 */
export class LineWriter {
  private buf: Buffer | undefined;
  private offs: number[] = [0];
  private used = 0;
  private capacity: number;
  private readonly pending: string[] = [];
  private readonly spare: Buffer[] = [];
  private readonly back = (buf: Buffer): void => {
    if (this.spare.length < SPARE_BUFFERS && buf.length <= 2 * this.capacity) this.spare.push(buf); // not a rare huge one
  };

  constructor(initialBytes = MIN_CAPACITY) {
    this.capacity = Math.max(MIN_CAPACITY, initialBytes);
  }

  /** Lines written since the last `take()`. */
  get length(): number {
    return this.offs.length - 1 + this.pending.length;
  }

  /** Appends one line (without "\n"). */
  add(line: string): void {
    if (this.pending.push(line) === PENDING_LINES) this.writePending();
  }

  /** The lines written so far as a batch; the writer starts over empty. */
  take(): LineBatch {
    this.writePending();
    const batch = this.buf === undefined ? LineBatch.view(EMPTY, this.offs) : LineBatch.view(this.buf, this.offs, this.back);
    if (this.buf !== undefined) this.capacity = Math.max(MIN_CAPACITY, this.used + (this.used >> 3));
    this.buf = undefined;
    this.offs = [0];
    this.used = 0;
    return batch;
  }

  /** Drops what was written since the last `take()`. */
  clear(): void {
    this.pending.length = 0;
    this.offs = [0];
    this.used = 0;
  }

  private writePending(): void {
    const lines = this.pending;
    if (lines.length === 0) return;
    const text = lines.join('\n');
    const worst = text.length * 3 + 1; // UTF-8 needs at most 3 bytes per UTF-16 unit
    let buf = this.buf ?? (this.buf = this.fresh(Math.max(this.capacity, worst)));
    if (this.used + worst > buf.length) buf = this.grow(this.used + worst);
    const bytes = buf.write(text, this.used, 'utf8');
    let at = this.used;
    // All ASCII (as many bytes as UTF-16 units): a line's byte length is its length, and
    // each line (a tree of the strings it was built from) is not flattened to measure it.
    const ascii = bytes === text.length;
    for (const line of lines) {
      at += (ascii ? line.length : Buffer.byteLength(line, 'utf8')) + 1;
      this.offs.push(at);
    }
    buf[this.used + bytes] = 10;
    this.used += bytes + 1;
    lines.length = 0;
  }

  /** A buffer of at least `size` bytes: a recycled one when one is big enough. */
  private fresh(size: number): Buffer {
    while (this.spare.length > 0) {
      const buf = this.spare.pop() as Buffer;
      if (buf.length >= size) return buf;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  private grow(atLeast: number): Buffer {
    const old = this.buf as Buffer;
    let size = old.length * 2;
    while (size < atLeast) size *= 2;
    const next = Buffer.allocUnsafe(size);
    old.copy(next, 0, 0, this.used);
    return (this.buf = next);
  }
}
