/**
 * The frames staged for the journal's next write(2): one reusable buffer, grown on demand
 * (a rare huge record does not pin a huge buffer: past `keptBytes` it is let go at
 * `clear`), and the length of each frame in it.
 */
const INITIAL_BYTES = 256 * 1024;

export class WriteBatch {
  buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  /** Bytes staged. */
  len = 0;
  /** Length of each staged frame, in order. */
  readonly lens: number[] = [];
  /** Whether a staged frame must be fsynced (not every one is `unsynced`). */
  needsSync = false;

  constructor(private readonly keptBytes = 4 * 1024 * 1024) {}

  get count(): number {
    return this.lens.length;
  }

  /** Makes room for `n` more bytes and returns where they go. */
  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.len + n, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    return this.len;
  }

  /** The frame of `n` bytes written at `reserve()`'s offset is staged. */
  add(n: number): void {
    this.lens.push(n);
    this.len += n;
  }

  clear(): void {
    this.len = 0;
    this.lens.length = 0;
    this.needsSync = false;
    if (this.buf.length > this.keptBytes) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  }
}
