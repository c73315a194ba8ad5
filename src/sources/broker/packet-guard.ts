import { Transform, type TransformCallback } from 'node:stream';

/**
 * Sits between a client socket and the MQTT parser and reads only the fixed headers:
 * a packet whose declared length exceeds `maxPacketBytes` ends the connection before its
 * body is buffered (the parser would otherwise hold up to 256 MiB for one packet). Bytes
 * are passed through untouched; the cost is a few comparisons per packet.
 */
export class PacketGuard extends Transform {
  /** Bytes of the current packet's body still to pass; -1 while reading a header. */
  private remaining = -1;
  private headerLen = 0;
  private multiplier = 1;
  private length = 0;

  constructor(
    private readonly maxPacketBytes: number,
    private readonly onTooLarge: (declared: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.remaining = -1;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.headerLen === 0) {
        // first byte: packet type and flags
        this.headerLen = 1;
        this.multiplier = 1;
        this.length = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerLen++;
      if (byte & 0x80) {
        if (this.headerLen > 5) return cb(new Error('malformed MQTT remaining length'));
        continue;
      }
      this.headerLen = 0;
      if (this.length > this.maxPacketBytes) {
        this.onTooLarge(this.length);
        return cb(new Error(`MQTT packet of ${this.length} bytes exceeds the limit of ${this.maxPacketBytes}`));
      }
      this.remaining = this.length === 0 ? -1 : this.length;
    }
    cb(null, chunk);
  }
}
