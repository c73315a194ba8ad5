/**
 * Writers: one HTTP POST of line protocol to InfluxDB per `write()`, nothing more.
 * Batching and retry belong to output.ts; the client's WriteApi (which batches and
 * retries on its own, and only knows `/api/v2/write`) is deliberately not used. We
 * post through `InfluxDB(...).transport.send()`, which also serves the 1.x `/write`.
 *
 * - v1 (`influxdb_v1`): `POST /write?db=&rp=&precision=ns`; credentials as HTTP Basic
 *   auth (InfluxDB 1.x accepts Basic auth as well as `u`/`p` query parameters; the
 *   header keeps the password out of URLs and access logs).
 * - v2/v3 (`influxdb_v2`): `POST /api/v2/write?org=&bucket=&precision=ns` with
 *   `Authorization: Token <token>`.
 * - Body: the batch's UTF-8 bytes as they are, through `sendBytes()` (influx-transport.ts,
 *   the one reach past the client's types: its `send()` copies a byte body).
 * - gzip: the transport compresses by itself when `SendOptions.gzipThreshold` is below
 *   the body size (async zlib, `Content-Encoding: gzip`), so gzip sets the threshold 0.
 * - Timeout: the transport's `timeout` is a socket idle timeout that does not end the
 *   request; each write also gets an AbortController that aborts it at `timeout` ms
 *   (and when the caller's signal aborts, e.g. at the end of a shutdown).
 * - Errors become WriteError (write-error.ts) with secrets redacted.
 * - `ping()`: `GET /ping` (1.x, 2.x and 3.x all answer it, without credentials), for
 *   noticing a down server's return without sending data.
 */
import http from 'node:http';
import https from 'node:https';
import { HttpError, InfluxDB, setLogger } from '@influxdata/influxdb-client';
import type { InfluxV1OutputConfig, InfluxV2OutputConfig, OutputConfig } from '../config/types.js';
import { WriteError, httpWriteError, otherWriteError } from './write-error.js';
import { sendBytes } from './influx-transport.js';

/** One request body of line protocol (lines joined by "\n"): text, or its UTF-8 bytes. */
export type Body = string | Uint8Array;

/** The body as text (for writers that look at the lines, e.g. in tests). */
export function bodyText(body: Body): string {
  return typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}

/**
 * Sends one request body of line protocol. Rejects with a WriteError. A Buffer body is a
 * view of the batch's memory, which is reused for a later batch once the write settled:
 * a writer copies what it keeps (the HTTP transport copies it in `send()`).
 */
export interface Writer {
  write(body: Body, pointCount: number, signal?: AbortSignal): Promise<void>;
  /**
   * Asks the server whether it answers at all, carrying no data (InfluxDB's `/ping`):
   * true on any HTTP answer, false on no answer within `timeoutMs`. Never rejects.
   */
  ping?(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Frees pooled connections; the writer must not be used afterwards. */
  close?(): void;
}

let clientLoggerSilenced = false;

/** The client logs retries and warnings with stacks to the console; we report errors ourselves. */
export function silenceInfluxClientLogger(): void {
  if (clientLoggerSilenced) return;
  setLogger({ error: () => undefined, warn: () => undefined });
  clientLoggerSilenced = true;
}

interface Target {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly token?: string;
  readonly secrets: readonly string[];
}

/** The shared HTTP mechanics of both API flavours. */
export class InfluxHttpWriter implements Writer {
  private readonly agent: http.Agent;
  private readonly client: InfluxDB;
  /** The URL without any user:password part, for messages. */
  private readonly safeUrl: string;

  constructor(
    private readonly config: OutputConfig,
    private readonly target: Target,
    private readonly now: () => number = Date.now,
  ) {
    silenceInfluxClientLogger();
    const u = new URL(config.url);
    u.username = '';
    u.password = '';
    this.safeUrl = u.origin + u.pathname.replace(/\/$/, '');
    const tls = config.url.startsWith('https:');
    this.agent = tls ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.client = new InfluxDB({
      url: config.url,
      token: target.token,
      timeout: config.timeout,
      transportOptions: { agent: this.agent },
    });
  }

  /** Request path with query string (for tests and logs; holds no secret). */
  get path(): string {
    return this.target.path;
  }

  async write(body: Body, _pointCount: number, signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.config.timeout);
    const onAbort = (): void => ac.abort();
    if (signal?.aborted) ac.abort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const options = {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8', ...this.target.headers },
          gzipThreshold: this.config.gzip ? 0 : undefined,
          signal: ac.signal,
        };
        const callbacks = { complete: () => resolve(), error: reject };
        if (typeof body === 'string') this.client.transport.send(this.target.path, body, options, callbacks);
        else sendBytes(this.client.transport, this.target.path, body, options, callbacks);
      });
    } catch (err) {
      if (err instanceof HttpError) {
        const location = err.headers?.location;
        const server = err.headers?.['x-influxdb-version'];
        if (this.config.type === 'influxdb_v2' && err.statusCode === 404 && isInfluxV1(typeof server === 'string' ? server : undefined, err.body)) {
          throw new WriteError(
            'not_found',
            `HTTP 404: this is InfluxDB 1.x${typeof server === 'string' ? ` (${server})` : ''}, which has no /api/v2/write: use type: influxdb_v1`,
            { status: 404 },
          );
        }
        throw httpWriteError(
          err.statusCode,
          err.body,
          err.headers?.['retry-after'],
          this.now(),
          this.target.secrets,
          typeof location === 'string' ? location : undefined,
        );
      }
      ac.abort(); // make sure the socket is gone (the socket timeout alone does not end the request)
      if (timedOut || (err as { name?: unknown } | null)?.name === 'RequestTimedOutError') {
        throw new WriteError('retryable', `timeout: no answer from ${this.safeUrl} within ${this.config.timeout} ms`);
      }
      if (signal?.aborted) throw new WriteError('retryable', 'aborted: the output is stopping');
      throw otherWriteError(err, this.target.secrets);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async ping(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const r = await fetch(`${this.safeUrl}/ping`, { method: 'GET', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      await r.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Whether a 404 to `/api/v2/write` came from InfluxDB 1.x: it names its version in
 * `X-Influxdb-Version` (1.6.7 answers "404 page not found" as plain text), where 2.x and
 * 3.x answer a missing bucket or org with a JSON body.
 */
export function isInfluxV1(versionHeader: string | undefined, body: string | undefined): boolean {
  if (versionHeader !== undefined) return /^v?1\./.test(versionHeader.trim());
  return body?.trim() === '404 page not found';
}

export class InfluxV1Writer extends InfluxHttpWriter {
  constructor(config: InfluxV1OutputConfig, now?: () => number) {
    const q = new URLSearchParams({ db: config.database });
    if (config.retention_policy) q.set('rp', config.retention_policy);
    q.set('precision', 'ns');
    const headers: Record<string, string> = {};
    const secrets: string[] = [];
    if (config.username !== undefined || config.password !== undefined) {
      const basic = Buffer.from(`${config.username ?? ''}:${config.password ?? ''}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
      secrets.push(basic);
      if (config.password) secrets.push(config.password);
    }
    super(config, { path: `/write?${q.toString()}`, headers, secrets }, now);
  }
}

export class InfluxV2Writer extends InfluxHttpWriter {
  constructor(config: InfluxV2OutputConfig, now?: () => number) {
    const q = new URLSearchParams({ org: config.org, bucket: config.bucket, precision: 'ns' });
    const secrets = config.token ? [config.token] : [];
    // The transport sets `Authorization: Token <token>` itself when given the token.
    super(config, { path: `/api/v2/write?${q.toString()}`, headers: {}, token: config.token, secrets }, now);
  }
}

/** The writer for an output's configured API flavour. */
export function createWriter(config: OutputConfig, now?: () => number): InfluxHttpWriter {
  return config.type === 'influxdb_v1' ? new InfluxV1Writer(config, now) : new InfluxV2Writer(config, now);
}
