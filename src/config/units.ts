/**
 * Durations and sizes as people write them in the config file: `"250ms"`, `"1m30s"`,
 * `"64MiB"` or a plain number of bytes. A duration always names its unit (a bare `10`
 * could mean 10 s or 10 ms; only `0` needs none). Pure functions returning a value or an error
 * message that quotes the input and shows what would be accepted (the schema fields built
 * on them are in schema-fields.ts).
 */

export type UnitResult = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly error: string };

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const DURATION_HINT = 'use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d';
const SIZE_HINT = 'use e.g. 512KiB, 64MiB, 10MB, 1GiB, or a number of bytes';

/** One `<number><unit>` term; a duration is one or more of them ("1m30s"). */
const DURATION_TERM = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;
const SIZE_TEXT = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i;
const PLAIN_NUMBER = /^\d+(?:\.\d+)?$/;

/**
 * Parses a duration into whole milliseconds: `"250ms"`, `"1s"`, `"5m"`, `"1h"`, `"1d"`, or
 * combinations such as `"1m30s"` or `"1h 30m"`. A bare number (`10`, `"10"`) is an error
 * naming the units, except 0 (the same in every unit). Fractions are allowed where the
 * result is a whole number of ms (`"1.5s"`).
 */
export function parseDuration(input: string | number): UnitResult {
  const text = String(input).trim();
  if (typeof input === 'number' || PLAIN_NUMBER.test(text)) {
    if (Number(text) === 0) return { ok: true, value: 0 };
    return { ok: false, error: `duration ${quote(input)} has no unit: write ${text}s or ${text}ms (units: ms, s, m, h, d)` };
  }
  let total = 0;
  let pos = 0;
  DURATION_TERM.lastIndex = 0;
  while (pos < text.length) {
    DURATION_TERM.lastIndex = pos;
    const m = DURATION_TERM.exec(text);
    if (!m) return { ok: false, error: `invalid duration ${quote(input)} (${DURATION_HINT})` };
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    pos = DURATION_TERM.lastIndex;
    while (text[pos] === ' ') pos++;
  }
  if (pos === 0) return { ok: false, error: `invalid duration ${quote(input)} (${DURATION_HINT})` };
  return wholeNumber(total, 'duration', 'milliseconds', DURATION_HINT, input);
}

/**
 * Parses a size into whole bytes: `"512KiB"`, `"64MiB"`, `"1GiB"` (powers of 1024),
 * `"10KB"`, `"10MB"` (powers of 1000), `"100B"`, a number, or a digits-only string (bytes).
 * Units are case-insensitive.
 */
export function parseSize(input: string | number): UnitResult {
  if (typeof input === 'number') return wholeNumber(input, 'size', 'bytes', SIZE_HINT);
  const m = SIZE_TEXT.exec(input.trim());
  if (!m) return { ok: false, error: `invalid size ${quote(input)} (${SIZE_HINT})` };
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()] as number;
  return wholeNumber(Number(m[1]) * unit, 'size', 'bytes', SIZE_HINT, input);
}

/** Formats ms the way the config file writes them (for messages and docs): 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of Object.entries(DURATION_UNITS).reverse()) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

function wholeNumber(value: number, what: 'duration' | 'size', unit: string, hint: string, original: string | number = value): UnitResult {
  if (!Number.isFinite(value) || value < 0) {
    return { ok: false, error: `invalid ${what} ${quote(original)} (${hint})` };
  }
  if (!Number.isInteger(value)) {
    // Float arithmetic ("0.1s" * 1000) may leave dust: accept what rounds within 1e-6.
    const rounded = Math.round(value);
    if (Math.abs(rounded - value) > 1e-6) {
      return { ok: false, error: `invalid ${what} ${quote(original)}: not a whole number of ${unit}` };
    }
    value = rounded;
  }
  if (!Number.isSafeInteger(value)) return { ok: false, error: `${what} ${quote(original)} is too large` };
  return { ok: true, value };
}

function quote(v: string | number): string {
  const s = String(v);
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** Longest duration a Node timer can wait (2^31-1 ms, ~24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
