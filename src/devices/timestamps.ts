/**
 * Timestamps in payloads → ns since the epoch: numbers and decimal text in s/ms/us/ns
 * (exact, from the payload's own digits where a double would round), and ISO 8601.
 * Used by the JSON decoder and the device profiles.
 */
import type { TimeUnit } from '../config/types.js';

/** The timestamps InfluxDB accepts, in ns. */
export const TIME_MIN_NS = -9223372036854775806n;
export const TIME_MAX_NS = 9223372036854775806n;

const UNIT_SHIFT: Record<Exclude<TimeUnit, 'iso'>, number> = { s: 9, ms: 6, us: 3, ns: 0 };
export const UNIT_SCALE: Record<Exclude<TimeUnit, 'iso'>, bigint> = { s: 1_000_000_000n, ms: 1_000_000n, us: 1000n, ns: 1n };
const POW10 = [1n, 10n, 100n, 1000n, 10_000n, 100_000n, 1_000_000n, 10_000_000n, 100_000_000n, 1_000_000_000n];

/** 1 to 20 ASCII digits and nothing else. */
function isPlainInteger(s: string): boolean {
  if (s.length === 0 || s.length > 20) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const DECIMAL_RE = /^\s*(?!\s)([-+])?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?\s*$/;

/**
 * A timestamp value → ns since the epoch, or the reason it is not one. Numeric units take
 * a JSON number (fractions allowed, e.g. 1700000000.5 s; digits below 1 ns are truncated)
 * or a string holding a decimal number. `iso` takes an ISO 8601 string (see `parseIsoNs`).
 * `exact` supplies the literal text of an integer beyond 2^53 (ns timestamps), read from the payload.
 */
export function toNs(v: unknown, unit: TimeUnit, exact?: () => string | undefined): bigint | string {
  if (unit === 'iso') {
    if (typeof v !== 'string') return `expected an ISO 8601 string, got ${typeof v}`;
    return parseIsoNs(v) ?? `"${v.length > 40 ? v.slice(0, 40) + '…' : v}" is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00.5+02:00)`;
  }
  let text: string;
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    if (v < 1e15 && v > -1e15) {
      // An integer of at most 15 digits (epoch s or ms) is what the payload said: no text needed.
      const ns = BigInt(v) * UNIT_SCALE[unit];
      if (ns >= TIME_MIN_NS && ns <= TIME_MAX_NS) return ns;
      text = String(v);
    } else text = exact?.() ?? String(v); // 16 digits (epoch µs): the payload may have said more
  } else if (typeof v === 'number') {
    // A double shows at most 17 significant digits; beyond 15 the payload may have held
    // more than JSON.parse kept (ns integers, long fractions of seconds): read its text.
    text = String(v);
    if (significantDigits(text) > 15) text = exact?.() ?? text;
  } else if (typeof v === 'string') text = v;
  else return `expected a number in ${unit}, got ${typeof v}`;
  const ns = decimalToNs(text, UNIT_SHIFT[unit]);
  return ns ?? `${text.length > 40 ? text.slice(0, 40) + '…' : text} ${unit} is not a number within the range InfluxDB accepts (years 1677–2262)`;
}

export function significantDigits(num: string): number {
  const e = num.search(/[eE]/);
  return (e === -1 ? num : num.slice(0, e)).replace(/[-+.]/g, '').replace(/^0+/, '').length;
}

/** A decimal number text times 10^shift, truncated to an integer; null when malformed or out of range. */
export function decimalToNs(text: string, shift: number): bigint | null {
  if (isPlainInteger(text)) {
    // Digits only (e.g. the text of a 16-digit µs or 19-digit ns timestamp): no parsing needed.
    const ns = BigInt(text) * (POW10[shift] ?? 10n ** BigInt(shift));
    return ns > TIME_MAX_NS ? null : ns;
  }
  const m = DECIMAL_RE.exec(text);
  if (m === null) return null;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  if (int === '' && frac === '') return null;
  let digits = (int + frac).replace(/^0+/, '');
  if (digits === '') return 0n;
  const exp = (m[4] === undefined ? 0 : Number(m[4])) + shift - frac.length;
  if (digits.length + exp > 20) return null;
  let ns: bigint;
  if (exp >= 0) ns = BigInt(digits) * 10n ** BigInt(exp);
  else {
    digits = digits.slice(0, Math.max(0, digits.length + exp));
    ns = digits === '' ? 0n : BigInt(digits);
  }
  if (m[1] === '-') ns = -ns;
  return ns < TIME_MIN_NS || ns > TIME_MAX_NS ? null : ns;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:([Zz])|([-+])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * ISO 8601 extended format → ns: `2024-05-01`, `2024-05-01T12:00`, `...:30`, `...:30.123456789`
 * (digits past ns truncated), then `Z`, `±hh:mm`, `±hhmm` or `±hh`. Without an offset the
 * time is taken as UTC. A space may replace `T`. Out-of-range parts (month 13, Feb 30,
 * second 60) and the basic format (`20240501T120000Z`) are rejected.
 */
export function parseIsoNs(s: string): bigint | null {
  const m = ISO_RE.exec(s);
  if (m === null) return null;
  const y = Number(m[1]),
    mo = Number(m[2]),
    d = Number(m[3]);
  const h = Number(m[4] ?? 0),
    mi = Number(m[5] ?? 0),
    sec = Number(m[6] ?? 0);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) return null;
  let off = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]),
      om = Number(m[11] ?? 0);
    if (oh > 23 || om > 59) return null;
    off = (oh * 60 + om) * 60 * (m[9] === '-' ? -1 : 1);
  }
  const secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
  const frac = (m[7] ?? '').slice(0, 9).padEnd(9, '0');
  const ns = BigInt(secs) * 1_000_000_000n + BigInt(frac);
  return ns < TIME_MIN_NS || ns > TIME_MAX_NS ? null : ns;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}
