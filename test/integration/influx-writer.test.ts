import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InfluxV1OutputConfig, InfluxV2OutputConfig } from '../../src/config/types.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { createWriter, InfluxV1Writer, InfluxV2Writer } from '../../src/sink/influx-writer.js';
import { LineBatch } from '../../src/sink/line-batch.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import { Output } from '../../src/sink/output.js';
import { fixHint, WriteError } from '../../src/sink/write-error.js';
import type { FieldValue, Reading } from '../../src/types.js';
import { answers, startFakeInfluxV2, type FakeInfluxV2 } from '../helpers/fake-influx-v2.js';
import { ADMIN, startInfluxd, type Influxd } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';

const base = { timeout: 5000, gzip: false, batch: { max_points: 5000, max_age: 1000 }, retry: { initial: 100, max: 500 }, concurrency: 1 };
const v1 = (url: string, over: Partial<InfluxV1OutputConfig> = {}): InfluxV1OutputConfig => ({
  ...base,
  id: 'v1',
  type: 'influxdb_v1',
  url,
  database: 'edge',
  ...over,
});
const v2 = (url: string, over: Partial<InfluxV2OutputConfig> = {}): InfluxV2OutputConfig => ({
  ...base,
  id: 'v2',
  type: 'influxdb_v2',
  url,
  org: 'test-org',
  bucket: 'test-bucket',
  token: 'test-token',
  ...over,
});

async function writeError(p: Promise<unknown>): Promise<WriteError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(WriteError);
    return e as WriteError;
  }
  throw new Error('the write succeeded');
}

/** "2023-11-14T22:13:20.123456789Z" → ns since the epoch. */
function rfc3339ToNs(s: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(s);
  if (!m) throw new Error(`not RFC 3339: ${s}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

interface Stored {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, unknown>;
}

describe('InfluxV1Writer against a real influxd 1.6.7', () => {
  let influx: Influxd;
  beforeAll(async () => {
    influx = await startInfluxd();
    await influx.createDatabase('edge');
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('stores every element with the right type, and escaping round-trips', async () => {
    await influx.createDatabase('rt');
    const t0 = 1_700_000_000_000_000_000n;
    const cases: { reading: Omit<Reading, 'time'>; stored: Stored }[] = [
      {
        reading: {
          measurement: 'weather station',
          tags: { 'loc,ation': 'north pole', 'a=b': 'c=d', z: 'x\\y', empty: '' },
          fields: { 'temp erature': -12.5, count: 42n, ok: true, note: 'He said "hi" \\o/ , = ', nan: NaN },
        },
        stored: {
          measurement: 'weather station',
          tags: { 'loc,ation': 'north pole', 'a=b': 'c=d', z: 'x\\y' },
          fields: { 'temp erature': -12.5, count: 42, ok: true, note: 'He said "hi" \\o/ , = ' },
        },
      },
      {
        reading: {
          measurement: 'm,comma',
          tags: { unicode: 'küche 😀', tab: 'a\tb' },
          fields: { s: 'ü😀€', big: 1e300, tiny: 5e-324, third: 0.1 + 0.2, off: false },
        },
        stored: {
          measurement: 'm,comma',
          tags: { unicode: 'küche 😀', tab: 'a\tb' },
          fields: { s: 'ü😀€', big: 1e300, tiny: 5e-324, third: 0.1 + 0.2, off: false },
        },
      },
      { reading: { measurement: '#hash', tags: {}, fields: { v: 1 } }, stored: { measurement: '\\#hash', tags: {}, fields: { v: 1 } } },
      {
        reading: { measurement: 'nl', tags: { t: 'a\nb' }, fields: { 'f\nk': 'line1\nline2\r', v: 2 } },
        stored: { measurement: 'nl', tags: { t: 'a\\nb' }, fields: { 'f\\nk': 'line1\\nline2\\r', v: 2 } },
      },
      {
        reading: { measurement: 'bs\\', tags: { t: 'v\\', u: 'w\\,x', w: 'lit\\eral' }, fields: { 'k\\': 1, s: 'end\\', only: '\\' } },
        stored: { measurement: 'bs', tags: { t: 'v', u: 'w,x', w: 'lit\\eral' }, fields: { k: 1, s: 'end\\', only: '\\' } },
      },
      {
        reading: { measurement: 'quote"s', tags: { 'q"': '"v"' }, fields: { 'f"': '"' } },
        stored: { measurement: 'quote"s', tags: { 'q"': '"v"' }, fields: { 'f"': '"' } },
      },
      // Leading tabs of a measurement are dropped; tag keys that escape alike: the first kept.
      {
        reading: { measurement: '\t\ttabbed', tags: { 'a,b': '1', 'a\\,b': '2' }, fields: { v: 3 } },
        stored: { measurement: 'tabbed', tags: { 'a,b': '1' }, fields: { v: 3 } },
      },
    ];
    const lines = cases.map((c, i) => encodeLine({ ...c.reading, time: t0 + BigInt(i) }) as string);
    const ints = encodeLine({ measurement: 'ints', tags: {}, fields: { max: 9223372036854775807n, min: -9223372036854775808n, zero: 0n }, time: t0 });
    const w = new InfluxV1Writer(v1(influx.url, { database: 'rt' }));
    await w.write(LineBatch.of([...lines, ints as string]).bytes(), lines.length + 1); // as the outputs send it: UTF-8 bytes
    w.close();

    const json = await influx.query('SELECT * FROM /.*/ GROUP BY *', 'rt');
    const got = new Map<bigint, Stored>();
    for (const s of json.results[0].series as { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]) {
      for (const row of s.values) {
        const fields: Record<string, unknown> = {};
        s.columns.forEach((c, k) => k > 0 && row[k] !== null && (fields[c] = row[k]));
        const tags = Object.fromEntries(Object.entries(s.tags ?? {}).filter(([, v]) => v !== ''));
        got.set(rfc3339ToNs(row[0] as string), { measurement: s.name, tags, fields });
      }
    }
    cases.forEach((c, i) => expect(got.get(t0 + BigInt(i)), `case ${i}: ${lines[i]}`).toEqual(c.stored));

    const types = await influx.query('SHOW FIELD KEYS FROM "weather station"', 'rt');
    expect(Object.fromEntries(types.results[0].series[0].values)).toEqual({ 'temp erature': 'float', count: 'integer', ok: 'boolean', note: 'string' });
    const floatTypes = await influx.query('SHOW FIELD KEYS FROM "m,comma"', 'rt');
    expect(Object.fromEntries(floatTypes.results[0].series[0].values)).toMatchObject({ big: 'float', tiny: 'float', off: 'boolean', s: 'string' });
    // Exact int64 values (JSON numbers cannot hold them): CSV with ns epoch.
    const csv = await influx.queryCsv('SELECT "max", "min", "zero" FROM "ints"', 'rt');
    expect(csv.trim().split('\n')[1]).toBe(`ints,,${t0},9223372036854775807,-9223372036854775808,0`);
  });

  it('writes a large batch, plain and gzip-compressed', async () => {
    const n = 5000;
    for (const gzip of [false, true]) {
      const m = gzip ? 'gz' : 'plain';
      const body = Array.from({ length: n }, (_, i) =>
        encodeLine({ measurement: m, tags: { device: `d${i % 50}` }, fields: { v: i, i: BigInt(i) }, time: 1_000_000_000n + BigInt(i) }),
      ).join('\n');
      const w = createWriter(v1(influx.url, { gzip }));
      await w.write(body, n);
      w.close();
      expect(await influx.count('edge', m)).toBe(n);
    }
  });

  it('classifies a missing database and retention policy as not_found, with the fix', async () => {
    const cfg = v1(influx.url, { database: 'nope' });
    const e = await writeError(new InfluxV1Writer(cfg).write('m v=1 1', 1));
    expect(e).toMatchObject({ kind: 'not_found', status: 404 });
    expect(e.message).toContain('database not found');
    expect(fixHint(cfg, e)).toContain(`CREATE DATABASE "nope"`);
    const rpCfg = v1(influx.url, { retention_policy: 'nope' });
    const rp = await writeError(new InfluxV1Writer(rpCfg).write('m v=1 1', 1));
    expect(rp).toMatchObject({ kind: 'not_found', status: 500 }); // 1.6.7 answers 500 here
    expect(fixHint(rpCfg, rp)).toContain('CREATE RETENTION POLICY "nope"');
  });

  it('a 2.x-style output pointed at it says "this is InfluxDB 1.x: use type: influxdb_v1", not "create the bucket"', async () => {
    const cfg = v2(influx.url);
    const e = await writeError(new InfluxV2Writer(cfg).write('m v=1 1', 1));
    expect(e).toMatchObject({ kind: 'not_found', status: 404 });
    expect(e.message).toMatch(/^HTTP 404: this is InfluxDB 1\.x \(1\.6\.7[^)]*\), which has no \/api\/v2\/write: use type: influxdb_v1$/);
    expect(fixHint(cfg, e)).toContain('is InfluxDB 1.x, which has no buckets or tokens: use type: influxdb_v1 with database: <name>');
    expect(fixHint(cfg, e)).not.toContain('bucket create');
  });

  it('classifies a field type conflict as a partial write and keeps the good line', async () => {
    const w = new InfluxV1Writer(v1(influx.url));
    await w.write('conflict v=1 1', 1);
    const e = await writeError(w.write('conflict v="text" 2\nconflict v=3 3', 2));
    expect(e).toMatchObject({ kind: 'bad_request', status: 400, partial: true, dropped: 1 });
    expect(e.message).toContain('field type conflict');
    expect(await influx.count('edge', 'conflict')).toBe(2);
    const parse = await writeError(w.write('not line protocol', 1));
    expect(parse).toMatchObject({ kind: 'bad_request', status: 400, partial: false });
    expect(parse.message).toContain('unable to parse');
    w.close();
  });

  it('classifies a refused connection and a silent server as retryable', async () => {
    const port = await freePort();
    const refused = await writeError(new InfluxV1Writer(v1(`http://127.0.0.1:${port}`)).write('m v=1 1', 1));
    expect(refused.kind).toBe('retryable');
    expect(refused.message).toContain('ECONNREFUSED');

    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const addr = silent.address() as { port: number };
    const started = Date.now();
    const w = new InfluxV1Writer(v1(`http://127.0.0.1:${addr.port}`, { timeout: 300 }));
    const timedOut = await writeError(w.write('m v=1 1', 1));
    expect(timedOut.kind).toBe('retryable');
    expect(timedOut.message).toContain('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
    w.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('an Output rides out an influxd outage and delivers every point after it', async () => {
    await influx.createDatabase('outage');
    const counters = new Counters();
    const out = new Output({
      config: v1(influx.url, { database: 'outage' }),
      writer: createWriter(v1(influx.url, { database: 'outage' })),
      logger: silentLogger(),
      counters,
      deadLetter: { record: () => undefined },
    });
    await influx.pause();
    const lines = Array.from({ length: 200 }, (_, i) => `outage,d=x v=${i} ${1_000_000 + i}`);
    const first = out.write(LineBatch.of(lines.slice(0, 100)));
    await waitFor(() => counters.get('write_retries', { output: 'v1', kind: 'retryable' }) >= 2, 10_000, 'failed attempts');
    const second = out.write(LineBatch.of(lines.slice(100)));
    expect(out.status.state).toBe('down');
    await influx.resume();
    expect(await Promise.all([first, second])).toEqual(['settled', 'settled']);
    expect(await influx.count('outage', 'outage')).toBe(200);
    out.close();
    expect(counters.get('points_written', { output: 'v1' })).toBe(200);
    expect(out.status.state).toBe('up');
  });
});

describe('InfluxV1Writer with authentication and a body limit', () => {
  let influx: Influxd;
  beforeAll(async () => {
    influx = await startInfluxd({ auth: true, maxBodySize: 2000 });
    await influx.createDatabase('edge');
    await influx.query(`CREATE USER reader WITH PASSWORD 'readerpw'`);
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('sends Basic credentials; wrong ones are auth errors that never show the password', async () => {
    await new InfluxV1Writer(v1(influx.url, ADMIN)).write('auth v=1 1', 1);
    expect(await influx.count('edge', 'auth')).toBe(1);
    const wrong = await writeError(new InfluxV1Writer(v1(influx.url, { username: 'admin', password: 'Wr0ngPassw0rd' })).write('auth v=1 2', 1));
    expect(wrong).toMatchObject({ kind: 'auth', status: 401 });
    expect(JSON.stringify({ m: wrong.message, s: wrong.stack })).not.toContain('Wr0ngPassw0rd');
    const none = await writeError(new InfluxV1Writer(v1(influx.url)).write('auth v=1 3', 1));
    expect(none).toMatchObject({ kind: 'auth', status: 401 });
    const cfg = v1(influx.url, { username: 'reader', password: 'readerpw' });
    const forbidden = await writeError(new InfluxV1Writer(cfg).write('auth v=1 4', 1));
    expect(forbidden).toMatchObject({ kind: 'auth', status: 403 });
    expect(fixHint(cfg, forbidden)).toContain(`GRANT WRITE ON "edge" TO "reader"`);
  });

  it('classifies a body over max-body-size as too_large', async () => {
    const body = Array.from({ length: 300 }, (_, i) => `big v=${i} ${i}`).join('\n');
    const e = await writeError(new InfluxV1Writer(v1(influx.url, ADMIN)).write(body, 300));
    expect(e).toMatchObject({ kind: 'too_large', status: 413 });
  });
});

describe('InfluxV2Writer against a protocol-faithful fake', () => {
  let fake: FakeInfluxV2;
  beforeAll(async () => {
    fake = await startFakeInfluxV2({ token: 'test-token', org: 'test-org', buckets: ['test-bucket'], maxBodyBytes: 10_000 });
  });
  afterAll(async () => {
    await fake?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const lines = (n: number, tag = 'x'): string =>
    Array.from({ length: n }, (_, i) =>
      encodeLine({ measurement: 'm', tags: { t: tag }, fields: { v: i } as Record<string, FieldValue>, time: BigInt(i) }),
    ).join('\n');

  it('posts to /api/v2/write with org, bucket, ns precision, the token and text/plain', async () => {
    const w = new InfluxV2Writer(v2(fake.url));
    await w.write(lines(3), 3);
    w.close();
    const req = fake.requests.at(-1);
    expect(req).toMatchObject({
      method: 'POST',
      path: '/api/v2/write',
      query: { org: 'test-org', bucket: 'test-bucket', precision: 'ns' },
      status: 204,
      gzip: false,
    });
    expect(req?.headers.authorization).toBe('Token test-token');
    expect(req?.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(req?.body).toBe(lines(3));
    expect(fake.lines.slice(-3)).toEqual(lines(3).split('\n'));
  });

  it('sends a gzip-compressed body when gzip is on', async () => {
    const w = new InfluxV2Writer(v2(fake.url, { gzip: true }));
    await w.write(LineBatch.of(lines(50, 'gz').split('\n')).bytes(), 50);
    w.close();
    const req = fake.requests.at(-1);
    expect(req?.gzip).toBe(true);
    expect(req?.headers['content-encoding']).toBe('gzip');
    expect([...(req?.rawBody.subarray(0, 2) ?? [])]).toEqual([0x1f, 0x8b]);
    expect(req?.rawBody.length).toBeLessThan(Buffer.byteLength(lines(50, 'gz')));
    expect(req?.body).toBe(lines(50, 'gz'));
  });

  it('classifies every answer', async () => {
    const w = new InfluxV2Writer(v2(fake.url));
    const cases: [ReturnType<typeof answers.ok>, Partial<WriteError>][] = [
      [answers.badRequest(), { kind: 'bad_request', status: 400, partial: false }],
      [answers.partialWrite(3), { kind: 'bad_request', status: 400, partial: true, dropped: 3 }],
      [
        { status: 422, body: { code: 'unprocessable entity', message: 'failure writing points to database: partial write: field type conflict dropped=2' } },
        { kind: 'bad_request', status: 422, partial: true, dropped: 2 },
      ],
      [
        {
          status: 400,
          body: {
            error: 'partial write of line protocol occurred',
            data: [
              { line_number: 1, error_message: 'x' },
              { line_number: 4, error_message: 'y' },
            ],
          },
        },
        { kind: 'bad_request', partial: true, dropped: 2 },
      ],
      [answers.unauthorized(), { kind: 'auth', status: 401 }],
      [answers.forbidden(), { kind: 'auth', status: 403 }],
      [answers.bucketNotFound(), { kind: 'not_found', status: 404 }],
      [answers.tooLarge(), { kind: 'too_large', status: 413 }],
      [answers.rateLimited('7'), { kind: 'retryable', status: 429, retryAfterMs: 7000 }],
      [answers.unavailable(), { kind: 'retryable', status: 503, retryAfterMs: undefined }],
      [answers.unavailable('2'), { kind: 'retryable', status: 503, retryAfterMs: 2000 }],
      [answers.internal(), { kind: 'retryable', status: 500 }],
      [
        { status: 405, body: { code: 'method not allowed', message: 'nope' } },
        { kind: 'not_found', status: 405 },
      ],
      [
        { status: 301, headers: { location: 'https://elsewhere/api/v2/write' } },
        { kind: 'not_found', status: 301, message: 'HTTP 301: redirect to https://elsewhere/api/v2/write' },
      ],
      [
        { status: 409, body: { code: 'conflict', message: 'nope' } },
        { kind: 'fatal', status: 409 },
      ],
    ];
    for (const [answer, expected] of cases) {
      fake.answerNext(1, answer);
      const e = await writeError(w.write(lines(1), 1));
      expect(e, JSON.stringify(answer)).toMatchObject(expected);
    }
    fake.answerNext(1, answers.badRequest());
    expect((await writeError(w.write(lines(1), 1))).message).toBe("HTTP 400: unable to parse 'bad line': missing fields");
    fake.answerNext(1, { status: 302, headers: { location: 'https://login.example/' } });
    expect(fixHint(v2(fake.url), await writeError(w.write(lines(1), 1)))).toContain('fix outputs[id=v2].url');
    w.close();
  });

  it('reads Retry-After given as an HTTP date', async () => {
    const w = new InfluxV2Writer(v2(fake.url));
    fake.answerNext(1, answers.rateLimited(new Date(Date.now() + 30_000).toUTCString()));
    const e = await writeError(w.write(lines(1), 1));
    expect(e.retryAfterMs).toBeGreaterThan(27_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(30_000);
    w.close();
  });

  it('classifies the fake’s own answers: wrong token, unknown bucket, body too large', async () => {
    expect(await writeError(new InfluxV2Writer(v2(fake.url, { token: 'wrong' })).write(lines(1), 1))).toMatchObject({ kind: 'auth', status: 401 });
    expect(await writeError(new InfluxV2Writer(v2(fake.url, { bucket: 'other' })).write(lines(1), 1))).toMatchObject({ kind: 'not_found', status: 404 });
    expect(await writeError(new InfluxV2Writer(v2(fake.url)).write(lines(1000), 1000))).toMatchObject({ kind: 'too_large', status: 413 });
  });

  it('a token that cannot go in a header (newline from a token file) is an auth error, not lost data', async () => {
    const e = await writeError(new InfluxV2Writer(v2(fake.url, { token: 'abc\n' })).write(lines(1), 1));
    expect(e.kind).toBe('auth');
    expect(e.message).not.toContain('abc');
  });

  it('never puts the token in an error message', async () => {
    const token = 'sup3r-s3cret-t0ken';
    fake.answerNext(1, { status: 401, body: { code: 'unauthorized', message: `token ${token} is not valid` } });
    const e = await writeError(new InfluxV2Writer(v2(fake.url, { token })).write(lines(1), 1));
    expect(e.message).not.toContain(token);
    expect(e.message).toContain('[redacted]');
  });

  it('keeps the client library quiet', async () => {
    const warn = vi.spyOn(console, 'warn');
    const error = vi.spyOn(console, 'error');
    const w = createWriter(v2(`${fake.url}/api/v2`)); // the client warns about this suffix
    fake.answerNext(1, answers.unavailable());
    await writeError(w.write(lines(1), 1));
    w.close();
    expect(warn).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
  });
});
