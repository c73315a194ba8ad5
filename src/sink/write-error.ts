/**
 * What went wrong with one write request, classified for the retry policy in output.ts:
 *
 * | kind          | from                                        | the output then            |
 * |---------------|---------------------------------------------|----------------------------|
 * | `retryable`   | network error, timeout, 408, 429, 5xx       | backs off and retries      |
 * | `too_large`   | 413                                         | splits the batch           |
 * | `bad_request` | 400, 422 (`partial` when InfluxDB wrote the rest) | bisects / dead-letters |
 * | `auth`        | 401, 403                                    | keeps the data, retries slowly, logs the fix |
 * | `not_found`   | 404, any 4xx/5xx saying "database/retention policy not found", or the URL is not a write API (3xx redirect, 405) | same as auth |
 * | `fatal`       | any other 4xx, or a programming error       | dead-letters the batch     |
 *
 * Messages never carry a token or password: writers pass their secrets to `redact`.
 */
import type { OutputConfig } from '../config/types.js';
import type { ErrorCode } from '../util/errors.js';

export type WriteErrorKind = 'retryable' | 'too_large' | 'bad_request' | 'auth' | 'not_found' | 'fatal';

/** The code (docs/troubleshooting.md) a user meets for each kind of write failure. */
export const WRITE_ERROR_CODES: Readonly<Record<WriteErrorKind, ErrorCode>> = {
  retryable: 'EFX_OUTPUT_UNREACHABLE',
  too_large: 'EFX_OUTPUT_TOO_LARGE',
  bad_request: 'EFX_OUTPUT_REJECTED',
  auth: 'EFX_OUTPUT_AUTH',
  not_found: 'EFX_OUTPUT_NOT_FOUND',
  fatal: 'EFX_OUTPUT_FATAL',
};

export interface WriteErrorDetails {
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly partial?: boolean;
  /** Points InfluxDB says it rejected in a partial write (`dropped=N`), when it says. */
  readonly dropped?: number;
}

export class WriteError extends Error {
  override readonly name = 'WriteError';
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly partial: boolean;
  readonly dropped: number | undefined;

  constructor(
    readonly kind: WriteErrorKind,
    message: string,
    details: WriteErrorDetails = {},
  ) {
    super(message);
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.partial = details.partial ?? false;
    this.dropped = details.dropped;
  }
}

/** The kind an HTTP status (and InfluxDB's message for it) belongs to. */
export function kindOfStatus(status: number, message = ''): WriteErrorKind {
  // influxd 1.x answers a missing database with 404 but a missing retention policy with 500.
  if (status >= 400 && /database not found|retention policy not found/i.test(message)) return 'not_found';
  if (status === 400 || status === 422) return 'bad_request';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 405 || (status >= 300 && status <= 399)) return 'not_found';
  if (status === 413) return 'too_large';
  if (status === 408 || status === 429 || (status >= 500 && status <= 599)) return 'retryable';
  return 'fatal';
}

/**
 * Retry-After in ms: the header holds delay-seconds or an HTTP date (RFC 9110 10.2.3).
 * The influxdb-client's `retryAfter()` hands back the raw number of seconds; never
 * use it as ms.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (!/^[a-z]{3}/i.test(s)) return undefined; // an HTTP date starts with the day name
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

const MAX_MESSAGE = 2000;

/**
 * InfluxDB's own words from an error body: 1.x `{"error": …}`, 2.x `{"code", "message"}`,
 * 3.x `{"error", "data": [{line_number, error_message, original_line}]}`, else the text.
 */
export function influxMessage(body: string | undefined): string {
  if (!body) return '';
  let msg = body.trim();
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown; data?: unknown };
    const main = typeof j.message === 'string' ? j.message : typeof j.error === 'string' ? j.error : undefined;
    if (main !== undefined) {
      msg = main;
      if (Array.isArray(j.data) && j.data.length > 0) msg += ': ' + JSON.stringify(j.data);
    }
  } catch {
    // not JSON: keep the text
  }
  return msg.length > MAX_MESSAGE ? msg.slice(0, MAX_MESSAGE) + '…' : msg;
}

/** Points rejected according to a partial-write message (`dropped=N`, or its listed parse errors). */
export function droppedCount(message: string, body?: string): number | undefined {
  const m = /dropped=(\d+)/.exec(message);
  if (m) return Number(m[1]);
  if (body) {
    try {
      const j = JSON.parse(body) as { data?: unknown };
      if (Array.isArray(j.data) && j.data.length > 0) return j.data.length;
    } catch {
      // not JSON
    }
  }
  const parseErrors = message.split("unable to parse '").length - 1;
  return parseErrors > 0 ? parseErrors : undefined;
}

/** Builds the WriteError for an HTTP answer. */
export function httpWriteError(
  status: number,
  body: string | undefined,
  retryAfter: string | readonly string[] | undefined,
  nowMs: number,
  secrets: readonly string[] = [],
  location?: string,
): WriteError {
  let text = influxMessage(body);
  if (status >= 300 && status <= 399) text = `redirect to ${location ?? '?'}`;
  text = redact(text, secrets);
  const kind = kindOfStatus(status, text);
  const partial = kind === 'bad_request' && /partial write/i.test(text);
  return new WriteError(kind, `HTTP ${status}${text ? ': ' + text : ''}`, {
    status,
    retryAfterMs: parseRetryAfter(retryAfter, nowMs),
    partial,
    dropped: partial ? droppedCount(text, body) : undefined,
  });
}

/**
 * A thrown value that is not an HTTP answer: I/O and timeouts are retryable; a header
 * Node refuses to send (a token or password with a newline) is `auth` (data kept, the
 * fix logged); another TypeError/RangeError/SyntaxError is a bug retrying cannot fix.
 */
export function otherWriteError(err: unknown, secrets: readonly string[] = []): WriteError {
  if (err instanceof WriteError) return err;
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const code = typeof e?.code === 'string' ? ` (${e.code})` : '';
  const text = redact(`${typeof e?.message === 'string' && e.message ? e.message : String(err)}${code}`, secrets);
  if (e?.code === 'ERR_INVALID_CHAR' || e?.code === 'ERR_HTTP_INVALID_HEADER_VALUE') {
    return new WriteError('auth', `${name}: ${text} (the credentials cannot be sent in an HTTP header)`);
  }
  const bug = err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError;
  return new WriteError(bug ? 'fatal' : 'retryable', `${name}: ${text}`);
}

/** Replaces every occurrence of each secret (and its URL-encoded form) with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('[redacted]');
  }
  return out;
}

/** What the user should do about an auth/not_found error, naming the config keys. */
export function fixHint(config: OutputConfig, err: WriteError): string {
  const at = `outputs[id=${config.id}]`;
  if (err.status !== undefined && (err.status === 405 || (err.status >= 300 && err.status <= 399))) {
    return `${config.url} does not look like InfluxDB's write API (${err.message}): fix ${at}.url (scheme, host, port, path) and type (${config.type})`;
  }
  if (config.type === 'influxdb_v1') {
    const db = config.database;
    if (err.kind === 'not_found') {
      if (/retention policy/i.test(err.message)) {
        return `retention policy "${config.retention_policy ?? ''}" does not exist on database "${db}": create it (influx -execute 'CREATE RETENTION POLICY "${config.retention_policy ?? ''}" ON "${db}" DURATION INF REPLICATION 1') or fix ${at}.retention_policy`;
      }
      return `database "${db}" does not exist at ${config.url}: create it (influx -execute 'CREATE DATABASE "${db}"') or fix ${at}.database / url`;
    }
    if (err.status === 403) {
      return `user "${config.username ?? ''}" may not write to "${db}": grant it (influx -execute 'GRANT WRITE ON "${db}" TO "${config.username ?? ''}"') or fix ${at}.username`;
    }
    return `InfluxDB at ${config.url} rejected the credentials: set ${at}.username and password (or password_file) to a user with WRITE on "${db}"`;
  }
  if (err.kind === 'not_found' && /this is InfluxDB 1\./.test(err.message)) {
    return `${config.url} is InfluxDB 1.x, which has no buckets or tokens: use type: influxdb_v1 with database: <name> (and username/password if auth is on) in ${at}`;
  }
  if (err.kind === 'not_found') {
    return `bucket "${config.bucket}" in org "${config.org}" was not found at ${config.url}: create it (influx bucket create --name ${config.bucket} --org ${config.org}) or fix ${at}.bucket / org`;
  }
  return `InfluxDB at ${config.url} rejected the token (HTTP ${err.status ?? '?'}): set ${at}.token (or token_file) to a token with write permission on bucket "${config.bucket}" (influx auth create --org ${config.org} --write-bucket <bucket-id>)`;
}
