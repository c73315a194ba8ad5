/**
 * Splits a byte stream into binary frames that begin with a start sequence, have a fixed
 * length or carry their own length, and may end with an end sequence and a checksum
 * (Nova SDS011: `AA C0 … CS AB`; Plantower PMS5003: `42 4D len16 … CS16`; Winsen MH-Z19B:
 * `FF 86 … CS`).
 *
 * Why not a parser that serialport ships (checked against serialport 13):
 * - `PacketLengthParser` never resynchronises on a multi-byte start sequence: on a
 *   mismatch it drops the newest byte and keeps the oldest, so one garbage byte before
 *   `42 4D` makes it miss every later frame (test/unit/serial-frame-splitter.test.ts shows
 *   it); it also needs a length field (SDS011 has none) and checks no checksum, so a false
 *   start inside garbage swallows the real frame that follows.
 * - `ByteLengthParser` has no notion of a start: one lost byte shifts every later frame.
 * - `DelimiterParser` on the end byte splits frames whose data contains that byte.
 * This splitter accepts a candidate only when its end sequence and checksum match;
 * otherwise it skips one byte and searches for the next start sequence, so garbage,
 * truncated frames and false starts cost exactly the bad bytes.
 *
 * Output (object mode): each accepted frame, and each run of rejected bytes ("junk") as a
 * chunk of its own, emitted before the frame that follows it (or once it reaches
 * `maxLength`, or on `end()`), so bad input reaches the decoder and the dead-letter file;
 * `junk` events (byte count) let the source count resynchronisations.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { checkFrame, type ChecksumSpec } from '../../util/checksum.js';

export interface FrameSplitterOptions {
  readonly start: Buffer;
  /** Fixed frame length (start to end, inclusive). */
  readonly length?: number | undefined;
  /** Or: the frame length is read from the frame (value + add). */
  readonly lengthField?: { readonly offset: number; readonly bytes: 1 | 2; readonly endian: 'be' | 'le'; readonly add: number } | undefined;
  readonly end?: Buffer | undefined;
  readonly checksum?: ChecksumSpec | undefined;
  /** Longest frame accepted, and longest junk run kept before it is emitted. */
  readonly maxLength: number;
}

export class FrameSplitter extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private junk: Buffer[] = [];
  private junkLength = 0;

  constructor(private readonly opts: FrameSplitterOptions) {
    super({ readableObjectMode: true });
    if (opts.start.length === 0) throw new TypeError('frame splitter: empty start sequence');
    if ((opts.length === undefined) === (opts.lengthField === undefined)) throw new TypeError('frame splitter: set exactly one of length and lengthField');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.scan();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.buf.length > 0) this.addJunk(this.buf);
    this.buf = Buffer.alloc(0);
    this.flushJunk();
    cb();
  }

  /** Bytes held: a partial frame or a possible start at the end of the input so far. */
  get buffered(): number {
    return this.buf.length + this.junkLength;
  }

  private scan(): void {
    const { start, maxLength } = this.opts;
    for (;;) {
      const at = this.buf.indexOf(start);
      if (at === -1) {
        // Keep a tail that may be the beginning of a start sequence.
        const keep = Math.min(this.buf.length, start.length - 1);
        const cut = this.buf.length - keep;
        if (cut > 0) this.addJunk(this.buf.subarray(0, cut));
        this.buf = this.buf.subarray(cut);
        return;
      }
      if (at > 0) {
        this.addJunk(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at);
      }
      const len = this.frameLength();
      if (len === undefined) return; // length field not here yet
      if (len < start.length + (this.opts.end?.length ?? 0) || len > maxLength) {
        this.skipOne();
        continue;
      }
      if (this.buf.length < len) return; // wait for the rest
      const frame = this.buf.subarray(0, len);
      if (this.valid(frame)) {
        this.flushJunk();
        this.push(Buffer.from(frame));
        this.buf = this.buf.subarray(len);
      } else {
        this.skipOne();
      }
    }
  }

  private frameLength(): number | undefined {
    if (this.opts.length !== undefined) return this.opts.length;
    const f = this.opts.lengthField as NonNullable<FrameSplitterOptions['lengthField']>;
    if (this.buf.length < f.offset + f.bytes) return undefined;
    const v = f.bytes === 1 ? (this.buf[f.offset] as number) : f.endian === 'be' ? this.buf.readUInt16BE(f.offset) : this.buf.readUInt16LE(f.offset);
    return v + f.add;
  }

  private valid(frame: Buffer): boolean {
    const end = this.opts.end;
    if (end !== undefined && !frame.subarray(frame.length - end.length).equals(end)) return false;
    return this.opts.checksum === undefined || checkFrame(this.opts.checksum, frame) === undefined;
  }

  private skipOne(): void {
    this.addJunk(this.buf.subarray(0, 1));
    this.buf = this.buf.subarray(1);
  }

  /** Collects rejected bytes; a run is emitted in pieces of at most maxLength. */
  private addJunk(bytes: Buffer): void {
    let rest = bytes;
    while (rest.length > 0) {
      const take = Math.min(rest.length, this.opts.maxLength - this.junkLength);
      this.junk.push(Buffer.from(rest.subarray(0, take)));
      this.junkLength += take;
      rest = rest.subarray(take);
      if (this.junkLength >= this.opts.maxLength) this.flushJunk();
    }
  }

  private flushJunk(): void {
    if (this.junkLength === 0) return;
    const run = Buffer.concat(this.junk, this.junkLength);
    this.junk = [];
    this.junkLength = 0;
    this.emit('junk', run.length);
    this.push(run);
  }
}
