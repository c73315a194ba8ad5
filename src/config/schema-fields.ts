/**
 * Field builders the config sections share: values that may come from a `${ENV}`
 * reference (so numbers and booleans may arrive as text), ids, URLs and backoff delays.
 */
import { z } from 'zod';
import { formatDuration, MAX_TIMER_MS, parseDuration, parseSize, type UnitResult } from './units.js';
import type { ReadSecretOptions, SecretPolicy } from './secrets.js';

function unitField(parse: (v: string | number) => UnitResult, what: string, show: (n: number) => string, min: number, max: number) {
  return z.union([z.string(), z.number()], { error: `expected a ${what}` }).transform((v, ctx) => {
    const r = parse(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
    else if (r.value < min) ctx.addIssue({ code: 'custom', message: `must be at least ${show(min)}`, input: v });
    else if (r.value > max) ctx.addIssue({ code: 'custom', message: `must be at most ${show(max)}`, input: v });
    return r.ok ? r.value : z.NEVER;
  });
}

/** Schema field: a duration written "250ms", "10s", "1m30s", "1d" (a unit is required); parsed to ms. */
export function durationField(def: string, about: string, min = 0, max = MAX_TIMER_MS) {
  return unitField(parseDuration, 'duration such as "10s" or "500ms"', formatDuration, min, max)
    .prefault(def)
    .describe(`${about} Duration with a unit: "500ms", "10s", "5m", "1h30m". Default ${def}.`);
}

/** Schema field: a size written "512KiB", "64MiB", "10MB" or a number of bytes; parsed to bytes. */
export function sizeField(def: string, about: string) {
  return unitField(parseSize, 'size such as "64MiB" or a number of bytes', (n) => `${n} bytes`, 1, Number.MAX_SAFE_INTEGER)
    .prefault(def)
    .describe(`${about} Size: "512KiB", "64MiB", "10MB" or a number of bytes. Default ${def}.`);
}

/** What the schema needs from the outside world. */
export interface SchemaContext {
  /** Directory of the config file: relative `*_file` and `dead_letter.path` resolve against it. */
  readonly baseDir: string;
  /** For the default MQTT client id `edgeflux-<hostname>-<id>`. */
  readonly hostname: string;
  /** The environment, for `$STATE_DIRECTORY` (systemd's StateDirectory=); default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Absent: secrets are read, an unreadable one is an error (the daemon). */
  readonly secrets?: SecretPolicy;
}

/** How `*_file` secrets are read: `plain` (a trailing newline trimmed) and `pem` (kept whole). */
export function secretReading(sctx: SchemaContext): { plain: ReadSecretOptions; pem: ReadSecretOptions } {
  const policy = sctx.secrets && { policy: sctx.secrets };
  return {
    plain: { baseDir: sctx.baseDir, trimNewline: true, ...policy },
    pem: { baseDir: sctx.baseDir, trimNewline: false, ...policy },
  };
}

export const ENV_HINT = '; may be a ${ENV} reference';
/** A digits-only string as the integer it spells; anything else unchanged. */
export const digits = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
export const boolText = (v: unknown): unknown => (v === 'true' ? true : v === 'false' ? false : v);

/** A decimal string as the number it spells; anything else unchanged. */
export const numeric = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v);

/** An integer; a digits-only string (from `${ENV}`) is accepted too (`numeric`: a decimal one, which then fails as not an integer). */
export const int = (min: number, max: number, fromText: (v: unknown) => unknown = digits) => z.preprocess(fromText, z.int().min(min).max(max));
export const bool = () => z.preprocess(boolText, z.boolean());
export const text = () => z.string().min(1);

export const id = (about: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "." and "-" (starting with a letter or digit)')
    .describe(about);

export function url(protocols: readonly string[], about: string) {
  return z
    .string()
    .superRefine((s, ctx) => {
      const scheme = URL.canParse(s) ? new URL(s).protocol : undefined;
      if (!scheme) ctx.addIssue({ code: 'custom', message: `invalid URL (expected ${protocols.join('//, ')}//...)` });
      else if (!protocols.includes(scheme)) ctx.addIssue({ code: 'custom', message: `URL scheme must be one of ${protocols.join('//, ')}//` });
    })
    .describe(about);
}

/** `{ initial, max }` backoff delays in ms, initial <= max. */
export const backoff = (about: string) =>
  z
    .strictObject({
      initial: durationField('1s', 'First delay.', 1),
      max: durationField('60s', 'Largest delay (the delay doubles up to it, with jitter).', 1),
    })
    .superRefine((b, ctx) => {
      if (b.initial > b.max) ctx.addIssue({ code: 'custom', message: 'must not exceed max', path: ['initial'] });
    })
    .prefault({})
    .describe(about);
