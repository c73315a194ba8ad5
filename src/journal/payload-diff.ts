/**
 * A payload coded as its differences from the topic's reference payload (journal format 2,
 * block-codec.ts; docs/architecture.md has the layout): varint P (the payload's length),
 * then literal runs and copies from the reference (varint n, n bytes; zigzag varint shift,
 * varint count), ending with a literal run. Readings of one device differ from each other
 * in a few digits, so most payloads code to a fraction of their size.
 */
import { REF_MAX_BYTES } from './segment-dict.js';
import { VarintReader, unzigzag, writeVarint, zigzag } from './varint.js';

/** Where `diff` codes a payload (a payload coded against a reference is at most REF_MAX_BYTES × 2). */
const scratch = Buffer.allocUnsafeSlow(4 * REF_MAX_BYTES + 64);
/** Bytes that must agree for a copy; shifts tried around the aligned place in the reference. */
const MIN_COPY = 4;
const SHIFTS = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8];

/**
 * Codes `p` as the differences from `ref` (read it with `diffed`): literal runs and copies from the
 * reference near where the previous copy ended (values of one device's readings keep the
 * same keys in the same order, their digits shift by a few places). Returns the length, or
 * 0 when that is no shorter than `p` itself.
 */
export function diff(p: Buffer, ref: Buffer): number {
  const n = p.length;
  if (n > REF_MAX_BYTES * 2) return 0;
  const m = ref.length;
  let at = writeVarint(scratch, 0, n);
  let i = 0;
  let j = 0;
  let lit = 0;
  while (i + MIN_COPY <= n) {
    let shift = 0;
    let found = false;
    for (let s = 0; s < SHIFTS.length; s++) {
      const r = j + SHIFTS[s]!;
      if (r < 0 || r + MIN_COPY > m) continue;
      if (p[i] === ref[r] && p[i + 1] === ref[r + 1] && p[i + 2] === ref[r + 2] && p[i + 3] === ref[r + 3]) {
        shift = SHIFTS[s]!;
        found = true;
        break;
      }
    }
    if (!found) {
      i++;
      j++;
      continue;
    }
    at = writeVarint(scratch, at, i - lit);
    for (let k = lit; k < i; k++) scratch[at++] = p[k]!;
    const r = j + shift;
    let c = MIN_COPY;
    while (i + c < n && r + c < m && p[i + c] === ref[r + c]) c++;
    at = writeVarint(scratch, at, zigzag(shift));
    at = writeVarint(scratch, at, c);
    i += c;
    j = r + c;
    lit = i;
    if (at >= n) return 0;
  }
  at = writeVarint(scratch, at, n - lit);
  for (let k = lit; k < n; k++) scratch[at++] = p[k]!;
  return at < n ? at : 0;
}

/**
 * Where payloads decoded by `undiffInto` go, one after another: one buffer for many payloads
 * instead of a Buffer object each (a drain reading a backlog decodes hundreds of thousands a
 * second). A payload keeps its buffer alive, as a view into a read chunk does; once a buffer
 * is full the next one is taken and the old one goes with the last payload in it.
 */
export class PayloadArena {
  buf: Buffer = Buffer.alloc(0);
  used = 0;

  constructor(private readonly chunkBytes = 64 * 1024) {}

  /** Room for `n` bytes: returns where they go in `this.buf`, and counts them as used. */
  reserve(n: number): number {
    if (this.used + n > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, n));
      this.used = 0;
    }
    const at = this.used;
    this.used += n;
    return at;
  }
}

const reader = new VarintReader(Buffer.alloc(0), 0, 0);

/**
 * Decodes the payload coded by `diff` in `buf[start, end)` against `ref` into `arena`;
 * returns where it starts in `arena.buf` (it ends at `arena.used`). Throws a RangeError
 * when the code is malformed.
 */
export function undiffInto(buf: Buffer, start: number, end: number, ref: Buffer, arena: PayloadArena): number {
  const r = reader.reset(buf, start, end);
  const n = r.varint();
  if (n > REF_MAX_BYTES * 2) throw new RangeError('journal block: coded payload too long');
  const first = arena.reserve(n);
  const out = arena.buf;
  const stop = first + n;
  let o = first;
  let j = 0;
  for (;;) {
    const l = r.varint();
    if (l > stop - o) throw new RangeError('journal block: coded payload overruns');
    const from = r.skip(l);
    for (let k = 0; k < l; k++) out[o++] = buf[from + k]!;
    j += l;
    if (r.at >= end) break;
    j += unzigzag(r.varint());
    const c = r.varint();
    if (j < 0 || c > ref.length - j || c > stop - o) throw new RangeError('journal block: coded payload copies past its reference');
    for (let k = 0; k < c; k++) out[o++] = ref[j + k]!;
    j += c;
  }
  if (o !== stop) throw new RangeError('journal block: coded payload too short');
  return first;
}

/** The code of the last `diff` (its `length` bytes): valid until the next call. */
export function diffed(length: number): Buffer {
  return scratch.subarray(0, length);
}
