/**
 * Binary frames of serial particulate and CO2 sensors, as their vendors document them.
 * Each decoder checks the whole frame (start bytes, length, end byte, checksum) itself,
 * so it is correct on its own, whatever framing delivered the bytes; bytes that are not
 * a frame (garbage between frames, a truncated frame) are `bad_frame`, a frame with a
 * wrong checksum is `checksum_mismatch`.
 */
import { z } from 'zod';
import { checkFrame, hexBytes, type ChecksumSpec } from '../../../util/checksum.js';
import { profileError, type FormatResult, type ProfileDecodeError, type RawValue } from '../types.js';
import { defineDecoder, type FormatDecoderDef } from './decoder.js';

function frameShape(buf: Buffer, what: string, start: readonly number[], len: number, end?: number): ProfileDecodeError | undefined {
  const startOk = start.every((b, i) => buf[i] === b);
  if (!startOk)
    return profileError('bad_frame', `not a ${what} frame: ${buf.length} bytes starting ${hexBytes(buf, 4)} (expected ${hexBytes(Buffer.from(start))})`);
  if (buf.length !== len)
    return profileError('bad_frame', `${what} frame of ${buf.length} bytes, expected ${len} (truncated or run together): ${hexBytes(buf)}`);
  if (end !== undefined && buf[len - 1] !== end)
    return profileError('bad_frame', `${what} frame ends with ${hexBytes(buf.subarray(len - 1))}, expected ${end.toString(16)}`);
  return undefined;
}

/** One vendor's fixed frame layout, as a serial frame decoder needs it. */
interface FrameLayout {
  readonly name: string;
  readonly description: string;
  readonly tags?: readonly string[];
  /** The frame's name in errors (`SDS011`). */
  readonly what: string;
  readonly start: readonly number[];
  /** Its length in bytes (a function: the frame says it). */
  readonly length: number | ((buf: Buffer) => number);
  readonly end?: number;
  /** A check of its own once the shape is right, before the checksum. */
  readonly check?: (buf: Buffer) => ProfileDecodeError | undefined;
  readonly checksum: ChecksumSpec;
  /** The values (and tags) of a frame whose shape and checksum are right. */
  readonly read: (buf: Buffer) => FormatResult;
}

/** A decoder of one frame layout: its shape (`bad_frame`), then its checksum (`checksum_mismatch`), then `read`. No params. */
function serialFrameDecoder(f: FrameLayout): FormatDecoderDef {
  return defineDecoder({
    name: f.name,
    description: f.description,
    transport: 'serial',
    ...(f.tags !== undefined && { tags: f.tags }),
    params: z.strictObject({}).prefault({}),
    create:
      () =>
      (input): FormatResult => {
        const buf = input.payload;
        const e = frameShape(buf, f.what, f.start, typeof f.length === 'number' ? f.length : f.length(buf), f.end) ?? f.check?.(buf);
        if (e !== undefined) return e;
        const bad = checkFrame(f.checksum, buf);
        if (bad !== undefined) return profileError('checksum_mismatch', `${f.what}: ${bad}`);
        return f.read(buf);
      },
  });
}

/**
 * Nova Fitness SDS011 (Laser Dust Sensor Control Protocol V1.3), 9600 8N1, 10-byte data
 * frames once per second in active mode: `AA C0 PM25L PM25H PM10L PM10H ID1 ID2 CS AB`,
 * CS = low byte of the sum of bytes 2..7. PM2.5 = (PM25H·256 + PM25L) / 10 µg/m³, PM10 alike.
 * Values `pm2_5`, `pm10`; tag `sensor_id` = ID1 ID2 in hex.
 */
export const sds011 = serialFrameDecoder({
  name: 'sds011',
  description: 'Nova SDS011 10-byte data frames (AA C0 … CS AB): PM2.5 and PM10 in µg/m³',
  tags: ['sensor_id'],
  what: 'SDS011',
  start: [0xaa, 0xc0],
  length: 10,
  end: 0xab,
  checksum: { type: 'sum8', from: 2, to: 8, at: 8 },
  read: (buf) => {
    const values: Record<string, RawValue> = { pm2_5: buf.readUInt16LE(2) / 10, pm10: buf.readUInt16LE(4) / 10 };
    return [{ values, tags: { sensor_id: buf.subarray(6, 8).toString('hex') } }];
  },
});

const PMS_NAMES = [
  'pm1_0_cf1',
  'pm2_5_cf1',
  'pm10_cf1',
  'pm1_0',
  'pm2_5',
  'pm10',
  'particles_0_3um',
  'particles_0_5um',
  'particles_1_0um',
  'particles_2_5um',
  'particles_5_0um',
  'particles_10um',
] as const;

/**
 * Plantower PMS5003 (data manual V2.3), 9600 8N1, 32-byte frames: `42 4D`, frame length
 * (16-bit big-endian, 2·13+2 = 28), 13 data words (big-endian): PM1.0/PM2.5/PM10 at CF=1
 * (µg/m³), the same under atmospheric environment, particle counts beyond 0.3/0.5/1.0/2.5/
 * 5.0/10 µm per 0.1 L, a reserved word; then the checksum: sum of every earlier byte, 16-bit BE.
 */
export const pms5003 = serialFrameDecoder({
  name: 'pms5003',
  description: 'Plantower PMS5003 32-byte frames (42 4D len … CS16): PM1.0/2.5/10 (CF=1 and atmospheric), particle counts',
  what: 'PMS5003',
  start: [0x42, 0x4d],
  length: (buf) => (buf.length >= 4 ? buf.readUInt16BE(2) + 4 : 32),
  check: (buf) => (buf.length !== 32 ? profileError('bad_frame', `PMS5003 frame length field says ${buf.length - 4}, expected 28`) : undefined),
  checksum: { type: 'sum16be', from: 0, to: 30, at: 30 },
  read: (buf) => {
    const values: Record<string, RawValue> = {};
    PMS_NAMES.forEach((n, i) => (values[n] = buf.readUInt16BE(4 + 2 * i)));
    return [{ values }];
  },
});

/**
 * Winsen MH-Z19B (user manual V1.0), 9600 8N1, polled: the request "read CO2
 * concentration" `FF 01 86 00 00 00 00 00 79` is answered with 9 bytes
 * `FF 86 HIGH LOW - - - - CS`, CO2 = HIGH·256 + LOW ppm, CS = (0x100 − sum of bytes 1..7) & 0xff.
 * The other bytes are undocumented and not read.
 */
export const mhz19b = serialFrameDecoder({
  name: 'mhz19b',
  description: 'Winsen MH-Z19B reply to "read CO2" (FF 86 HIGH LOW … CS): CO2 in ppm',
  what: 'MH-Z19B',
  start: [0xff, 0x86],
  length: 9,
  checksum: { type: 'neg_sum8', from: 1, to: 8, at: 8 },
  read: (buf) => [{ values: { co2: buf.readUInt16BE(2) } }],
});
