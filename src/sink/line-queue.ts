/**
 * Pending lines of one output, oldest first, kept in the chunks they were submitted as
 * (no copying on submit); counts points and bytes (UTF-8 plus one newline per line) so
 * the output can bound its memory and drop the oldest lines exactly.
 */
interface Chunk {
  readonly lines: readonly string[];
  head: number;
  bytes: number;
}

export class LineQueue {
  private chunks: (Chunk | undefined)[] = [];
  private first = 0;
  points = 0;
  bytes = 0;

  push(lines: readonly string[]): void {
    let bytes = 0;
    for (const l of lines) bytes += lineBytes(l);
    this.chunks.push({ lines, head: 0, bytes });
    this.points += lines.length;
    this.bytes += bytes;
  }

  /** Removes up to `max` lines from the front. */
  take(max: number): { lines: string[]; bytes: number } | undefined {
    if (this.points === 0) return undefined;
    const lines: string[] = [];
    let bytes = 0;
    while (lines.length < max) {
      const c = this.chunks[this.first];
      if (!c) break;
      const n = Math.min(c.lines.length - c.head, max - lines.length);
      const whole = n === c.lines.length - c.head;
      let partBytes = 0;
      for (let i = c.head; i < c.head + n; i++) {
        const l = c.lines[i] as string;
        lines.push(l);
        if (!whole) partBytes += lineBytes(l);
      }
      if (whole) {
        bytes += c.bytes;
        this.shift();
      } else {
        bytes += partBytes;
        c.head += n;
        c.bytes -= partBytes;
      }
    }
    this.points -= lines.length;
    this.bytes -= bytes;
    return { lines, bytes };
  }

  /** Drops the oldest lines until at least `bytes` bytes are freed or nothing is left; returns the count. */
  dropOldest(bytes: number): number {
    let freed = 0;
    let dropped = 0;
    while (freed < bytes) {
      const c = this.chunks[this.first];
      if (!c) break;
      if (freed + c.bytes <= bytes) {
        freed += c.bytes;
        dropped += c.lines.length - c.head;
        this.shift();
        continue;
      }
      while (freed < bytes && c.head < c.lines.length) {
        const b = lineBytes(c.lines[c.head++] as string);
        c.bytes -= b;
        freed += b;
        dropped++;
      }
      if (c.head === c.lines.length) this.shift();
    }
    this.points -= dropped;
    this.bytes -= freed;
    return dropped;
  }

  clear(): number {
    const n = this.points;
    this.chunks = [];
    this.first = 0;
    this.points = 0;
    this.bytes = 0;
    return n;
  }

  private shift(): void {
    this.chunks[this.first++] = undefined;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

export function lineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8') + 1;
}
