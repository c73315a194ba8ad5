/**
 * The integers of the journal's block format (block-codec.ts): unsigned LEB128 varints
 * (7 bits a byte, low first), signed ones zigzag-coded first (0, -1, 1, -2, … → 0, 1, 2, 3, …).
 * Numbers up to 2^53 go as numbers; a base time beyond that as a bigint.
 */

/** Writes `n` (an integer in [0, 2^53)) at `buf[at]`; returns the offset after it. */
export function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

export const zigzag = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);
export const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/** Writes `v` (any int64) zigzag-coded at `buf[at]`; returns the offset after it. */
export function writeBigVarint(buf: Buffer, at: number, v: bigint): number {
  let z = v >= 0n ? v * 2n : -v * 2n - 1n;
  while (z >= 0x80n) {
    buf[at++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  buf[at++] = Number(z);
  return at;
}

/** A cursor over a block's body; every read is bounds-checked (a malformed block throws). */
export class VarintReader {
  constructor(
    public buf: Buffer,
    public at: number,
    public end: number,
  ) {}

  /** Points this cursor at `buf[at, end)` (one reader serves many payloads: no object each). */
  reset(buf: Buffer, at: number, end: number): this {
    this.buf = buf;
    this.at = at;
    this.end = end;
    return this;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.at >= this.end) throw new RangeError('journal block: truncated varint');
      const b = this.buf[this.at++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    throw new RangeError('journal block: varint too long');
  }

  bigZigzag(): bigint {
    let z = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new RangeError('journal block: truncated varint');
      const b = this.buf[this.at++]!;
      z |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return z & 1n ? -(z >> 1n) - 1n : z >> 1n;
      shift += 7n;
    }
    throw new RangeError('journal block: varint too long');
  }

  skip(n: number): number {
    const from = this.at;
    if (n > this.end - this.at) throw new RangeError('journal block: field past the end');
    this.at += n;
    return from;
  }
}
