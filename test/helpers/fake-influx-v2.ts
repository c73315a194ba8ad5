/**
 * A protocol-faithful fake of InfluxDB 2.x's write API for tests (node:http on
 * 127.0.0.1, port 0). It answers like the real server: `POST /api/v2/write` with `org`,
 * `bucket` and `precision` query parameters, `Authorization: Token <token>`, optional
 * `Content-Encoding: gzip`; 204 on success; JSON errors `{"code": …, "message": …}`;
 * `GET /ping` and `/health`. Every request is recorded (path, query, headers, decoded
 * body). Tests script faults with `answerNext(n, answer)`: the next n write requests get
 * that answer instead of the normal one.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (gzip-compressed when Content-Encoding says so). */
  readonly rawBody: Buffer;
  /** The body decoded to text. */
  readonly body: string;
  readonly gzip: boolean;
  /** The status the fake answered. */
  status: number;
}

export interface Answer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Answers shaped like InfluxDB 2.x's. */
export const answers = {
  ok: (): Answer => ({ status: 204 }),
  badRequest: (message = "unable to parse 'bad line': missing fields"): Answer => ({ status: 400, body: { code: 'invalid', message } }),
  partialWrite: (dropped = 1): Answer => ({
    status: 400,
    body: {
      code: 'invalid',
      message: `partial write: field type conflict: input field "value" on measurement "m" is type integer, already exists as type float dropped=${dropped}`,
    },
  }),
  unauthorized: (): Answer => ({ status: 401, body: { code: 'unauthorized', message: 'unauthorized access' } }),
  forbidden: (): Answer => ({ status: 403, body: { code: 'forbidden', message: 'insufficient permissions for write' } }),
  bucketNotFound: (bucket = 'b'): Answer => ({ status: 404, body: { code: 'not found', message: `bucket "${bucket}" not found` } }),
  tooLarge: (): Answer => ({ status: 413, body: { code: 'request too large', message: 'unable to read data: points batch is too large' } }),
  rateLimited: (retryAfter = '7'): Answer => ({
    status: 429,
    body: { code: 'too many requests', message: 'org has exceeded its write limit' },
    headers: { 'retry-after': retryAfter },
  }),
  unavailable: (retryAfter?: string): Answer => ({
    status: 503,
    body: { code: 'unavailable', message: 'service temporarily unavailable' },
    headers: retryAfter ? { 'retry-after': retryAfter } : {},
  }),
  internal: (): Answer => ({ status: 500, body: { code: 'internal error', message: 'unexpected error writing points to database: timeout' } }),
};

export interface FakeInfluxV2 {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Lines of every write the fake accepted (204), in order. */
  readonly lines: string[];
  /** The next `n` write requests get `answer` (queued after earlier scripted answers). */
  answerNext(n: number, answer: Answer): void;
  close(): Promise<void>;
}

export interface FakeInfluxV2Options {
  readonly token?: string;
  readonly org?: string;
  readonly buckets?: readonly string[];
  /** Bodies (decoded) above this many bytes get 413. */
  readonly maxBodyBytes?: number;
}

export async function startFakeInfluxV2(opts: FakeInfluxV2Options = {}): Promise<FakeInfluxV2> {
  const token = opts.token ?? 'test-token';
  const org = opts.org ?? 'test-org';
  const buckets = new Set(opts.buckets ?? ['test-bucket']);
  const requests: RecordedRequest[] = [];
  const lines: string[] = [];
  const script: Answer[] = [];

  const send = (res: ServerResponse, a: Answer): void => {
    const headers: Record<string, string> = { 'x-influxdb-version': 'v2.7.11', 'x-influxdb-build': 'OSS', ...a.headers };
    if (a.body === undefined) {
      res.writeHead(a.status, headers).end();
      return;
    }
    const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    headers['content-type'] = typeof a.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
    res.writeHead(a.status, headers).end(text);
  };

  const normal = (rec: RecordedRequest): Answer => {
    if (rec.headers.authorization !== `Token ${token}`) return answers.unauthorized();
    if (rec.query.org !== org) return { status: 404, body: { code: 'not found', message: `organization name "${rec.query.org ?? ''}" not found` } };
    const bucket = rec.query.bucket ?? '';
    if (!buckets.has(bucket)) return answers.bucketNotFound(bucket);
    if (!['ns', 'us', 'ms', 's', undefined].includes(rec.query.precision)) {
      return { status: 400, body: { code: 'invalid', message: `invalid precision "${rec.query.precision ?? ''}"` } };
    }
    if (opts.maxBodyBytes !== undefined && Buffer.byteLength(rec.body) > opts.maxBodyBytes) return answers.tooLarge();
    return answers.ok();
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://fake');
      if (req.method === 'GET' && (u.pathname === '/ping' || u.pathname === '/health')) {
        return send(res, u.pathname === '/ping' ? { status: 204 } : { status: 200, body: { name: 'influxdb', status: 'pass' } });
      }
      const rawBody = Buffer.concat(chunks);
      const gzip = req.headers['content-encoding'] === 'gzip';
      let body: string;
      try {
        body = (gzip ? gunzipSync(rawBody) : rawBody).toString('utf8');
      } catch {
        return send(res, { status: 400, body: { code: 'invalid', message: 'unable to decode gzip body' } });
      }
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        headers: req.headers,
        rawBody,
        body,
        gzip,
        status: 0,
      };
      requests.push(rec);
      let a: Answer;
      if (req.method !== 'POST' || u.pathname !== '/api/v2/write') a = { status: 404, body: { code: 'not found', message: 'path not found' } };
      else a = script.shift() ?? normal(rec);
      rec.status = a.status;
      if (a.status === 204) lines.push(...body.split('\n').filter((l) => l !== ''));
      send(res, a);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('fake influx: no port');

  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    requests,
    lines,
    answerNext(n, answer) {
      for (let i = 0; i < n; i++) script.push(answer);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
