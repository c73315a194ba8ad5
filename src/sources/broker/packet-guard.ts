/**
 * Reads the fixed headers of the MQTT packets in a client's byte stream, chunk by chunk as
 * the broker reads them: a packet whose declared length exceeds `maxPacketBytes` ends the
 * connection before its body is buffered (the parser would otherwise hold up to 256 MiB for
 * one packet). The bytes themselves go to the parser untouched; the cost is a few
 * comparisons per packet.
 */
export class PacketGuard {
  /** Bytes of the current packet's body still to pass; -1 while reading a header. */
  private remaining = -1;
  private headerLen = 0;
  private multiplier = 1;
  private length = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /**
   * Follows the packets through `chunk` (the stream's next bytes). Returns undefined while
   * every header is within bounds; else the connection must end: `declared` is the refused
   * packet's length, absent for a malformed length.
   */
  check(chunk: Buffer): { readonly declared?: number } | undefined {
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
        if (this.headerLen > 5) return {}; // a malformed remaining length
        continue;
      }
      this.headerLen = 0;
      if (this.length > this.maxPacketBytes) {
        return { declared: this.length };
      }
      this.remaining = this.length === 0 ? -1 : this.length;
    }
    return undefined;
  }
}
