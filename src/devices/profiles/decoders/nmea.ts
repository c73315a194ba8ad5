/**
 * NMEA 0183 sentences from GPS receivers (one sentence per message; serial framing:
 * lines ending in CR LF). `$<talker><type>,<fields…>*<checksum>`, the checksum being the
 * XOR of every character between `$` and `*`, in two hex digits.
 *
 * - `GGA` (fix data): latitude, longitude (decimal degrees, south/west negative),
 *   fix_quality (0 = no fix), satellites, hdop, altitude (m), geoid_separation (m).
 * - `RMC` (recommended minimum): valid (status A), latitude, longitude, speed_knots,
 *   course (degrees true), magnetic_variation (degrees, west negative).
 * Any talker (GP, GN, GL, GA, BD…). Other sentence types, and types not listed in
 * `sentences`, are consumed without readings. Empty fields are left out.
 *
 * Event time (`time: payload`, the default): RMC carries date and time (UTC); GGA only the
 * time of day, dated with the arrival date (the day nearest to the arrival time).
 * Without a time field, or with `time: arrival`, the arrival time.
 */
import { z } from 'zod';
import { computeChecksum } from '../../../util/checksum.js';
import { profileError, type FormatResult, type ProfileDecodeError, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { clip, decimalNumber, isProfileError, payloadText } from './text.js';

const DAY_NS = 86_400_000_000_000n;
const SENTENCE_RE = /^\$([A-Z]{2})([A-Z]{3}),(.*?)(?:\*([0-9A-Fa-f]{2}))?$/;

export const nmea = defineDecoder({
  name: 'nmea',
  description: 'NMEA 0183 GGA and RMC sentences with checksum: position, fix, satellites, altitude, speed, course',
  transport: 'any',
  params: z
    .strictObject({
      sentences: z
        .array(z.enum(['GGA', 'RMC']))
        .min(1)
        .default(['GGA', 'RMC'])
        .describe('Sentence types to decode; others yield nothing.'),
      require_checksum: z.boolean().default(true).describe('Reject sentences without a *hh checksum. Default true.'),
      time: z.enum(['payload', 'arrival']).default('payload').describe('Event time from the sentence (UTC) or the arrival time.'),
    })
    .prefault({}),
  create: (p) => {
    const wanted = new Set<string>(p.sentences);
    return (input): FormatResult => {
      const text = payloadText(input.payload);
      if (isProfileError(text)) return text;
      const line = text.replace(/(?<![\r\n])[\r\n]+$/, '');
      const m = SENTENCE_RE.exec(line);
      if (m === null) return profileError('bad_frame', `not an NMEA 0183 sentence: "${clip(line)}"`);
      const [, , type = '', body = '', sum] = m; // groups 2 and 3 take part in every match
      if (sum === undefined) {
        if (p.require_checksum) return profileError('bad_frame', `NMEA ${type}: no *hh checksum`);
      } else {
        const content = Buffer.from(line.slice(1, line.lastIndexOf('*')), 'latin1');
        const want = computeChecksum('xor8', content, 0, content.length);
        if (want !== parseInt(sum, 16)) {
          return profileError(
            'checksum_mismatch',
            `NMEA ${type}: checksum ${sum.toUpperCase()} in the sentence, ${want.toString(16).toUpperCase().padStart(2, '0')} computed`,
          );
        }
      }
      if (!wanted.has(type)) return [];
      const f = body.split(',');
      const r = type === 'GGA' ? gga(f) : rmc(f);
      if (isProfileError(r)) return r;
      const time = p.time === 'payload' ? r.time(input.receivedAt) : undefined;
      if (isProfileError(time)) return time;
      return [{ values: r.values, ...(time !== undefined && { time }) }];
    };
  },
});

interface Parsed {
  readonly values: Record<string, RawValue>;
  readonly time: (arrival: bigint) => bigint | undefined | ProfileDecodeError;
}

function num(f: readonly string[], i: number, name: string, out: Record<string, RawValue>, int = false): ProfileDecodeError | undefined {
  const s = f[i] ?? '';
  if (s === '') return undefined;
  const n = decimalNumber(s);
  if (n === undefined || (int && !Number.isInteger(n))) return profileError('bad_frame', `NMEA field ${i + 1} (${name}): "${clip(s)}" is not a number`);
  out[name] = n;
  return undefined;
}

/** `ddmm.mmmm` + hemisphere → signed decimal degrees. */
function coord(f: readonly string[], i: number, degDigits: 2 | 3, name: string, neg: string, out: Record<string, RawValue>): ProfileDecodeError | undefined {
  const s = f[i] ?? '';
  const h = f[i + 1] ?? '';
  if (s === '' && h === '') return undefined;
  const re = degDigits === 2 ? /^(\d{2})(\d{2}(?:\.\d+)?)$/ : /^(\d{3})(\d{2}(?:\.\d+)?)$/;
  const m = re.exec(s);
  const okHemi = degDigits === 2 ? h === 'N' || h === 'S' : h === 'E' || h === 'W';
  if (m === null || !okHemi || Number(m[2]) >= 60) return profileError('bad_frame', `NMEA ${name} "${clip(s)},${clip(h, 3)}" is not a coordinate`);
  const deg = Number(m[1]) + Number(m[2]) / 60;
  out[name] = Math.round((h === neg ? -deg : deg) * 1e7) / 1e7;
  return undefined;
}

/** `hhmmss[.sss]` → ns since midnight, or undefined when empty. */
function timeOfDay(s: string): bigint | undefined | ProfileDecodeError {
  if (s === '') return undefined;
  const m = /^(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(s);
  if (m === null || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3]) > 60) return profileError('bad_frame', `NMEA time "${clip(s)}" is not hhmmss.ss`);
  const secs = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return BigInt(secs) * 1_000_000_000n + BigInt((m[4] ?? '').padEnd(9, '0'));
}

function gga(f: readonly string[]): Parsed | ProfileDecodeError {
  if (f.length < 14) return profileError('bad_frame', `NMEA GGA has ${f.length} fields, expected 14`);
  const values: Record<string, RawValue> = {};
  const e =
    coord(f, 1, 2, 'latitude', 'S', values) ??
    coord(f, 3, 3, 'longitude', 'W', values) ??
    num(f, 5, 'fix_quality', values, true) ??
    num(f, 6, 'satellites', values, true) ??
    num(f, 7, 'hdop', values) ??
    num(f, 8, 'altitude', values) ??
    num(f, 10, 'geoid_separation', values);
  if (e !== undefined) return e;
  const tod = timeOfDay(f[0] ?? '');
  if (isProfileError(tod)) return tod;
  return {
    values,
    time: (arrival) => {
      if (tod === undefined) return undefined;
      // The day nearest to the arrival time (a fix taken just before midnight arrives after it).
      const day = (arrival / DAY_NS) * DAY_NS;
      let best = day + tod;
      for (const c of [best - DAY_NS, best + DAY_NS]) if (abs(c - arrival) < abs(best - arrival)) best = c;
      return best;
    },
  };
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

function rmc(f: readonly string[]): Parsed | ProfileDecodeError {
  if (f.length < 11) return profileError('bad_frame', `NMEA RMC has ${f.length} fields, expected at least 11`);
  const status = f[1] ?? '';
  if (status !== 'A' && status !== 'V') return profileError('bad_frame', `NMEA RMC status "${clip(status, 5)}" is neither A nor V`);
  const values: Record<string, RawValue> = { valid: status === 'A' };
  if (status === 'A') {
    const e =
      coord(f, 2, 2, 'latitude', 'S', values) ??
      coord(f, 4, 3, 'longitude', 'W', values) ??
      num(f, 6, 'speed_knots', values) ??
      num(f, 7, 'course', values) ??
      num(f, 9, 'magnetic_variation', values);
    if (e !== undefined) return e;
    if (values.magnetic_variation !== undefined && f[10] === 'W') values.magnetic_variation = -(values.magnetic_variation as number);
  }
  const tod = timeOfDay(f[0] ?? '');
  if (isProfileError(tod)) return tod;
  const d = f[8] ?? '';
  let date: bigint | undefined;
  if (d !== '') {
    const m = /^(\d{2})(\d{2})(\d{2})$/.exec(d);
    const dd = Number(m?.[1]),
      mm = Number(m?.[2]),
      yy = Number(m?.[3]);
    if (m === null || mm < 1 || mm > 12 || dd < 1 || dd > 31) return profileError('bad_frame', `NMEA RMC date "${clip(d, 10)}" is not ddmmyy`);
    date = BigInt(Date.UTC(yy < 80 ? 2000 + yy : 1900 + yy, mm - 1, dd)) * 1_000_000n;
  }
  return { values, time: () => (tod === undefined || date === undefined ? undefined : date + tod) };
}
