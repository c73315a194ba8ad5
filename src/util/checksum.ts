/**
 * Checksums of the binary frames that shipped profiles know, shared by the serial frame
 * splitter (to accept a frame and resynchronise past a false start) and by the decoders
 * (a frame is checked again where it is decoded, so a decoder is correct on its own).
 *
 * - `sum8`: low byte of the sum of the bytes (Nova SDS011: data bytes 2..7).
 * - `sum16be`: sum of the bytes as an unsigned 16-bit big-endian value (Plantower PMS5003:
 *   every byte before the checksum).
 * - `neg_sum8`: two's complement of the low byte of the sum, `(0x100 - sum) & 0xff`
 *   (Winsen MH-Z19B: bytes 1..7).
 * - `xor8`: XOR of the bytes (NMEA 0183 uses it over the text between `$` and `*`).
 */
export type ChecksumType = 'sum8' | 'sum16be' | 'neg_sum8' | 'xor8';

export const CHECKSUM_TYPES: readonly ChecksumType[] = ['sum8', 'sum16be', 'neg_sum8', 'xor8'];

/** Where the checksum of a frame is: computed over [from, to), stored at `at` (negative = from the end). */
export interface ChecksumSpec {
  readonly type: ChecksumType;
  readonly from: number;
  /** Exclusive; negative counts from the end of the frame. */
  readonly to: number;
  /** Offset of the stored checksum; negative counts from the end of the frame. */
  readonly at: number;
}

/** Bytes the stored checksum takes. */
export function checksumWidth(type: ChecksumType): number {
  return type === 'sum16be' ? 2 : 1;
}

/** The checksum of `buf[from, to)`. */
export function computeChecksum(type: ChecksumType, buf: Uint8Array, from: number, to: number): number {
  let acc = 0;
  if (type === 'xor8') {
    for (let i = from; i < to; i++) acc ^= buf[i] as number;
    return acc;
  }
  for (let i = from; i < to; i++) acc += buf[i] as number;
  if (type === 'sum8') return acc & 0xff;
  if (type === 'sum16be') return acc & 0xffff;
  return (0x100 - (acc & 0xff)) & 0xff;
}

/** Resolves a possibly negative offset against a frame length. */
function abs(off: number, len: number): number {
  return off < 0 ? len + off : off;
}

/**
 * Checks the checksum of a whole frame: undefined when it matches, else a message
 * naming both values (hex) for the dead-letter file.
 */
export function checkFrame(spec: ChecksumSpec, frame: Uint8Array): string | undefined {
  const len = frame.length;
  const from = abs(spec.from, len);
  const to = abs(spec.to, len);
  const at = abs(spec.at, len);
  const w = checksumWidth(spec.type);
  if (from < 0 || to > len || from > to || at < 0 || at + w > len) return `frame of ${len} bytes is too short for its checksum`;
  const want = computeChecksum(spec.type, frame, from, to);
  const got = w === 2 ? ((frame[at] as number) << 8) | (frame[at + 1] as number) : (frame[at] as number);
  if (want === got) return undefined;
  const hex = (n: number) => `0x${n.toString(16).padStart(2 * w, '0')}`;
  return `checksum ${hex(got)} in the frame, ${hex(want)} computed (${spec.type} of bytes ${from}..${to - 1})`;
}

/** `AA C0 01` → "aa c0 01" for messages (at most `max` bytes shown). */
export function hexBytes(buf: Uint8Array, max = 16): string {
  const parts: string[] = [];
  for (let i = 0; i < Math.min(buf.length, max); i++) parts.push((buf[i] as number).toString(16).padStart(2, '0'));
  return parts.join(' ') + (buf.length > max ? ' …' : '');
}

/** "AA C0", "aac0", "0xAA 0xC0" or a list of numbers → bytes; undefined when malformed. */
export function parseHexBytes(v: string | readonly number[]): Buffer | undefined {
  if (typeof v !== 'string') return v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? Buffer.from(v) : undefined;
  const s = v.replace(/0x/gi, '').replace(/[\s,:]+/g, '');
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(s)) return undefined;
  return Buffer.from(s, 'hex');
}
