/**
 * Binary frames of serial particulate and CO2 sensors, as their vendors document them.
 * Each decoder checks the whole frame (start bytes, length, end byte, checksum) itself,
 * so it is correct on its own, whatever framing delivered the bytes; bytes that are not
 * a frame (garbage between frames, a truncated frame) are `bad_frame`, a frame with a
 * wrong checksum is `checksum_mismatch`.
 */
import { z } from 'zod';
import { checkFrame, hexBytes } from '../../../util/checksum.js';
import { profileError, type FormatResult, type ProfileDecodeError, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';

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

/**
 * Nova Fitness SDS011 (Laser Dust Sensor Control Protocol V1.3), 9600 8N1, 10-byte data
 * frames once per second in active mode: `AA C0 PM25L PM25H PM10L PM10H ID1 ID2 CS AB`,
 * CS = low byte of the sum of bytes 2..7. PM2.5 = (PM25H·256 + PM25L) / 10 µg/m³, PM10 alike.
 * Values `pm2_5`, `pm10`; tag `sensor_id` = ID1 ID2 in hex.
 */
export const sds011 = defineDecoder({
  name: 'sds011',
  description: 'Nova SDS011 10-byte data frames (AA C0 … CS AB): PM2.5 and PM10 in µg/m³',
  transport: 'serial',
  tags: ['sensor_id'],
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const buf = input.payload;
      const e = frameShape(buf, 'SDS011', [0xaa, 0xc0], 10, 0xab);
      if (e !== undefined) return e;
      const bad = checkFrame({ type: 'sum8', from: 2, to: 8, at: 8 }, buf);
      if (bad !== undefined) return profileError('checksum_mismatch', `SDS011: ${bad}`);
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
export const pms5003 = defineDecoder({
  name: 'pms5003',
  description: 'Plantower PMS5003 32-byte frames (42 4D len … CS16): PM1.0/2.5/10 (CF=1 and atmospheric), particle counts',
  transport: 'serial',
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const buf = input.payload;
      const e = frameShape(buf, 'PMS5003', [0x42, 0x4d], buf.length >= 4 ? buf.readUInt16BE(2) + 4 : 32);
      if (e !== undefined) return e;
      if (buf.length !== 32) return profileError('bad_frame', `PMS5003 frame length field says ${buf.length - 4}, expected 28`);
      const bad = checkFrame({ type: 'sum16be', from: 0, to: 30, at: 30 }, buf);
      if (bad !== undefined) return profileError('checksum_mismatch', `PMS5003: ${bad}`);
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
export const mhz19b = defineDecoder({
  name: 'mhz19b',
  description: 'Winsen MH-Z19B reply to "read CO2" (FF 86 HIGH LOW … CS): CO2 in ppm',
  transport: 'serial',
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const buf = input.payload;
      const e = frameShape(buf, 'MH-Z19B', [0xff, 0x86], 9);
      if (e !== undefined) return e;
      const bad = checkFrame({ type: 'neg_sum8', from: 1, to: 8, at: 8 }, buf);
      if (bad !== undefined) return profileError('checksum_mismatch', `MH-Z19B: ${bad}`);
      return [{ values: { co2: buf.readUInt16BE(2) } }];
    },
});
