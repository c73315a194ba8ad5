import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InfluxV1OutputConfig, OutputConfig } from '../../src/config/types.js';
import { Counters } from '../../src/observe/counters.js';
import { createLogger } from '../../src/observe/logger.js';
import type { DeadLetterEntry, DeadLetterSink } from '../../src/sink/dead-letter.js';
import { type Writer, bodyText, type Body } from '../../src/sink/influx-writer.js';
import { Output, type WriteOutcome } from '../../src/sink/output.js';
import { WriteError } from '../../src/sink/write-error.js';
import { LineBatch } from '../../src/sink/line-batch.js';

/** What the fake InfluxDB does with one request: nothing (204), an error, or never answer. */
type Behaviour = (lines: string[], n: number) => WriteError | 'hang' | undefined;

class FakeWriter implements Writer {
  readonly calls: { lines: string[]; at: number }[] = [];
  readonly written: string[] = [];
  behaviour: Behaviour = () => undefined;
  closed = false;
  /** When set, the writer can be probed: what each ping answers (in order; the last repeats). */
  pings: boolean[] | undefined;
  pinged: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private releases: (() => void)[] = [];

  write(body: Body, pointCount: number, signal?: AbortSignal): Promise<void> {
    const lines = bodyText(body).split('\n');
    expect(lines).toHaveLength(pointCount);
    this.calls.push({ lines, at: Date.now() });
    const result = this.behaviour(lines, this.calls.length);
    if (result instanceof WriteError) return Promise.reject(result);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.inFlight--;
        this.written.push(...lines);
        resolve();
      };
      signal?.addEventListener('abort', () => {
        this.inFlight--;
        reject(new WriteError('retryable', 'aborted'));
      });
      if (result === 'hang') this.releases.push(done);
      else queueMicrotask(done);
    });
  }

  ping?(): Promise<boolean> {
    if (!this.pings) return Promise.resolve(false);
    this.pinged.push(Date.now());
    return Promise.resolve(this.pings.length > 1 ? this.pings.shift()! : (this.pings[0] ?? false));
  }

  /** Lets every hanging request succeed. */
  release(): void {
    const r = this.releases;
    this.releases = [];
    for (const f of r) f();
  }

  close(): void {
    this.closed = true;
  }
}

class FakeDeadLetter implements DeadLetterSink {
  readonly entries: DeadLetterEntry[] = [];
  record(entry: DeadLetterEntry): void {
    this.entries.push(entry);
  }
}

function config(over: Partial<InfluxV1OutputConfig> = {}): OutputConfig {
  return {
    id: 'out1',
    type: 'influxdb_v1',
    url: 'http://127.0.0.1:8086',
    database: 'sensors',
    timeout: 10_000,
    gzip: false,
    batch: { max_points: 5000, max_age: 1000 },
    retry: { initial: 1000, max: 60_000 },
    concurrency: 1,
    ...over,
  };
}

const lines = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')} v=1 ${i}`);
const err = (kind: WriteError['kind'], extra: ConstructorParameters<typeof WriteError>[2] = {}): WriteError =>
  new WriteError(kind, `HTTP ${extra.status ?? 0}: ${kind}`, extra);

let writer: FakeWriter;
let deadLetter: FakeDeadLetter;
let counters: Counters;
let logs: { level: number; msg: string; [k: string]: unknown }[];
let out: Output;

function make(cfg: OutputConfig = config(), random = () => 0.5): Output {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l) as (typeof logs)[number]);
      cb();
    },
  });
  out = new Output({ config: cfg, writer, counters, deadLetter, random, logger: createLogger({ level: 'debug', destination }) });
  return out;
}

/** Starts a write and records how it ends. */
function write(lines: readonly string[]): { outcome: () => WriteOutcome | undefined; done: Promise<WriteOutcome> } {
  let outcome: WriteOutcome | undefined;
  const done = out.write(LineBatch.of(lines)).then((o) => (outcome = o));
  return { outcome: () => outcome, done };
}

const tick = (ms = 0): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);
const labels = { output: 'out1' };

beforeEach(() => {
  vi.useFakeTimers();
  writer = new FakeWriter();
  deadLetter = new FakeDeadLetter();
  counters = new Counters();
  logs = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Output: writing', () => {
  it('writes a batch as one request, counts it and settles', async () => {
    make();
    expect(await out.write(LineBatch.of(['a v=1 1', 'b v=2 2', 'c v=3 3']))).toBe('settled');
    expect(writer.calls.map((c) => c.lines)).toEqual([['a v=1 1', 'b v=2 2', 'c v=3 3']]);
    expect(counters.get('points_written', labels)).toBe(3);
    expect(counters.get('write_requests', labels)).toBe(1);
    expect(out.status.state).toBe('up');
    out.close();
    expect(writer.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends a batch larger than batch.max_points as several requests, in order', async () => {
    make(config({ batch: { max_points: 4, max_age: 1000 } }));
    expect(await out.write(LineBatch.of(lines('a', 10)))).toBe('settled');
    expect(writer.calls.map((c) => c.lines.length)).toEqual([4, 4, 2]);
    expect(writer.written).toEqual(lines('a', 10));
  });

  it('runs several writes at once (the drain decides how many)', async () => {
    make();
    writer.behaviour = () => 'hang';
    const a = write(lines('a', 2));
    const b = write(lines('b', 2));
    await tick();
    expect(writer.maxInFlight).toBe(2);
    writer.release();
    expect(await Promise.all([a.done, b.done])).toEqual(['settled', 'settled']);
  });
});

describe('Output: retry', () => {
  it('retries a retryable failure with exponential backoff and equal jitter', async () => {
    make(config({ retry: { initial: 1000, max: 60_000 } }), () => 0.5);
    writer.behaviour = (_l, n) => (n <= 3 ? err('retryable', { status: 503 }) : undefined);
    const w = write(lines('a', 3));
    await tick();
    expect(writer.calls).toHaveLength(1);
    expect(out.status.state).toBe('down');
    expect(out.status.lastError).toContain('503');
    await tick(749);
    expect(writer.calls).toHaveLength(1);
    await tick(1); // 1000 / 2 + 0.5 * 1000 / 2
    expect(writer.calls).toHaveLength(2);
    await tick(1499);
    expect(writer.calls).toHaveLength(2);
    await tick(1); // 2000 / 2 + 0.5 * 2000 / 2
    expect(writer.calls).toHaveLength(3);
    expect(w.outcome()).toBeUndefined();
    await tick(3000); // 4000 / 2 + 0.5 * 4000 / 2
    expect(writer.calls).toHaveLength(4);
    expect(w.outcome()).toBe('settled');
    expect(writer.written).toEqual(lines('a', 3));
    expect(counters.get('write_retries', { output: 'out1', kind: 'retryable' })).toBe(3);
    expect(counters.get('write_requests', labels)).toBe(4);
    expect(out.status.state).toBe('up');
    expect(logs.filter((l) => l.msg.includes('write failed, retrying'))).toHaveLength(1); // rate limited
    expect(logs.some((l) => l.level === 30 && l.msg.includes('writing again'))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours Retry-After', async () => {
    make(config({ retry: { initial: 100, max: 1000 } }));
    writer.behaviour = (_l, n) => (n === 1 ? err('retryable', { status: 429, retryAfterMs: 7000 }) : undefined);
    const w = write(lines('a', 1));
    await tick(6999);
    expect(writer.calls).toHaveLength(1);
    await tick(1);
    expect(writer.calls).toHaveLength(2);
    expect(await w.done).toBe('settled');
    expect(writer.written).toHaveLength(1);
  });

  it('never gives up on retryable errors (the data is safe in the journal)', async () => {
    make(config({ retry: { initial: 100, max: 60_000 } }));
    writer.behaviour = () => err('retryable', { status: 503 });
    const w = write(lines('a', 2));
    await tick(24 * 3600_000);
    expect(w.outcome()).toBeUndefined();
    expect(writer.calls.length).toBeGreaterThan(24 * 60); // a day at one try per 30 s on average
    expect(counters.total('points_dropped')).toBe(0);
    writer.behaviour = () => undefined;
    await tick(60_000);
    expect(w.outcome()).toBe('settled');
  });

  it('splits a batch InfluxDB finds too large, and sends smaller requests from then on', async () => {
    make();
    writer.behaviour = (l) => (l.length > 2 ? err('too_large', { status: 413 }) : undefined);
    expect(await out.write(LineBatch.of(lines('a', 5)))).toBe('settled');
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 3, 2, 1, 2]);
    expect(writer.written).toEqual(lines('a', 5));
    expect(counters.get('write_retries', { output: 'out1', kind: 'too_large' })).toBe(2);
    expect(await out.write(LineBatch.of(lines('b', 4)))).toBe('settled');
    expect(writer.calls.slice(5).map((c) => c.lines.length)).toEqual([2, 2]);
    expect(deadLetter.entries).toHaveLength(0);
  });

  it('dead-letters a single line that is still too large', async () => {
    make();
    writer.behaviour = (l) => (l.some((x) => x.startsWith('huge')) ? err('too_large', { status: 413 }) : undefined);
    expect(await out.write(LineBatch.of(['ok1 v=1 1', 'huge v="…" 2', 'ok2 v=1 3']))).toBe('settled');
    expect(writer.written).toEqual(['ok1 v=1 1', 'ok2 v=1 3']);
    expect(deadLetter.entries).toEqual([
      { reason: 'too_large', code: 'EFX_OUTPUT_TOO_LARGE', output: 'out1', line: 'huge v="…" 2', message: 'HTTP 413: too_large' },
    ]);
    expect(counters.get('points_dropped', { output: 'out1', reason: 'too_large' })).toBe(1);
  });

  it('bisects a rejected batch, dead-letters exactly the bad lines and writes the rest', async () => {
    make();
    const batch = lines('g', 16);
    batch[3] = 'BAD1 v=x 3';
    batch[12] = 'BAD2 v=y 12';
    writer.behaviour = (l) =>
      l.some((x) => x.startsWith('BAD')) ? new WriteError('bad_request', "HTTP 400: unable to parse 'BAD': invalid number", { status: 400 }) : undefined;
    expect(await out.write(LineBatch.of(batch))).toBe('settled');
    expect(writer.written).toEqual(batch.filter((l) => !l.startsWith('BAD')));
    expect(deadLetter.entries.map((e) => [e.reason, e.code, e.line, e.message])).toEqual([
      ['bad_request', 'EFX_OUTPUT_REJECTED', 'BAD1 v=x 3', "HTTP 400: unable to parse 'BAD': invalid number"],
      ['bad_request', 'EFX_OUTPUT_REJECTED', 'BAD2 v=y 12', "HTTP 400: unable to parse 'BAD': invalid number"],
    ]);
    expect(counters.get('points_dropped', { output: 'out1', reason: 'bad_request' })).toBe(2);
    expect(counters.get('points_written', labels)).toBe(14);
    expect(counters.get('write_requests', labels)).toBeLessThan(16); // bisection, not one request per line
  });

  it("partial write: InfluxDB kept the rest; one dead-letter record with InfluxDB's reason, the reported number counted", async () => {
    make();
    const message = 'HTTP 400: partial write: field type conflict: input field "v" on measurement "m" is type integer, already exists as type float dropped=2';
    writer.behaviour = () => new WriteError('bad_request', message, { status: 400, partial: true, dropped: 2 });
    expect(await out.write(LineBatch.of(lines('m', 5)))).toBe('settled');
    expect(writer.calls).toHaveLength(1); // not retried
    expect(deadLetter.entries).toHaveLength(1);
    expect(deadLetter.entries[0]).toMatchObject({ reason: 'partial_write', code: 'EFX_OUTPUT_REJECTED', output: 'out1' });
    expect(deadLetter.entries[0]?.message).toContain('field type conflict');
    expect(deadLetter.entries[0]?.message).toContain('dropped=2');
    expect(counters.get('points_dropped', { output: 'out1', reason: 'partial_write' })).toBe(2);
    expect(counters.get('points_written', labels)).toBe(3);
  });

  it('auth errors: keeps the data, retries slowly, logs the fix at most once a minute, degraded', async () => {
    const cfg = config({ username: 'edge', password: 's3cret' });
    make(cfg, () => 0);
    let refuse = true;
    writer.behaviour = () => (refuse ? err('auth', { status: 401 }) : undefined);
    const w = write(lines('a', 4));
    await tick();
    expect(writer.calls).toHaveLength(1);
    await tick(14_999);
    expect(writer.calls).toHaveLength(1); // slow: the first retry comes after 15 s at the earliest
    await tick(1);
    expect(writer.calls).toHaveLength(2);
    await tick(5 * 60_000);
    const calls = writer.calls.length;
    expect(calls).toBeGreaterThan(3);
    expect(calls).toBeLessThan(12);
    const errors = logs.filter((l) => l.level === 50);
    expect(errors.length).toBeGreaterThanOrEqual(5);
    expect(errors.length).toBeLessThanOrEqual(6); // once a minute over 5 minutes
    expect(errors[0]?.msg).toContain('rejected the credentials');
    expect(errors[0]?.code).toBe('EFX_OUTPUT_AUTH');
    expect(errors[0]?.msg).toContain('outputs[id=out1].username');
    expect(JSON.stringify(logs)).not.toContain('s3cret');
    expect(w.outcome()).toBeUndefined();
    expect(out.status).toMatchObject({ state: 'degraded', lastErrorKind: 'auth' });
    expect(counters.total('points_dropped')).toBe(0);
    refuse = false;
    await tick(120_000);
    expect(w.outcome()).toBe('settled');
    expect(writer.written).toEqual(lines('a', 4));
    expect(out.status.state).toBe('up');
  });

  it('downSince is the first failure, kept across retries, cleared by a success', async () => {
    make(config({ retry: { initial: 1000, max: 1000 } }), () => 0.5);
    let refuse = true;
    writer.behaviour = () => (refuse ? err('retryable', { status: 503 }) : undefined);
    const first = Date.now();
    const w = write(lines('a', 2));
    await tick();
    expect(out.status).toMatchObject({ state: 'down', downSince: first, lastErrorAt: first });
    await tick(10_000);
    expect(writer.calls.length).toBeGreaterThan(5);
    expect(out.status.lastErrorAt).toBeGreaterThan(first + 5_000);
    expect(out.status.downSince).toBe(first);
    refuse = false;
    await tick(2_000);
    expect(w.outcome()).toBe('settled');
    expect(out.status.state).toBe('up');
    expect(out.status.downSince).toBeUndefined();
  });

  it('a missing database: keeps the data, says how to create it', async () => {
    make(config(), () => 0);
    writer.behaviour = (_l, n) => (n <= 2 ? new WriteError('not_found', 'HTTP 404: database not found: "sensors"', { status: 404 }) : undefined);
    const w = write(lines('a', 2));
    await tick(1);
    expect(out.status.state).toBe('degraded');
    await tick(60_000);
    expect(logs.find((l) => l.level === 50)?.msg).toContain(`CREATE DATABASE "sensors"`);
    expect(await w.done).toBe('settled');
    expect(writer.written).toEqual(lines('a', 2));
    expect(counters.get('write_retries', { output: 'out1', kind: 'not_found' })).toBe(2);
  });

  it('fatal errors dead-letter the lines and count them', async () => {
    make();
    writer.behaviour = (_l, n) => (n === 1 ? new WriteError('fatal', 'HTTP 405: method not allowed', { status: 405 }) : undefined);
    expect(await out.write(LineBatch.of(lines('a', 3)))).toBe('settled');
    expect(await out.write(LineBatch.of(lines('b', 1)))).toBe('settled');
    expect(deadLetter.entries.map((e) => e.line)).toEqual(lines('a', 3));
    expect(deadLetter.entries.every((e) => e.reason === 'fatal')).toBe(true);
    expect(counters.get('points_dropped', { output: 'out1', reason: 'fatal' })).toBe(3);
    expect(writer.written).toEqual(lines('b', 1));
  });

  it('treats a plain thrown error as retryable', async () => {
    make();
    writer.behaviour = (_l, n) => {
      if (n === 1) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return undefined;
    };
    const w = write(lines('a', 1));
    await tick(1000);
    expect(await w.done).toBe('settled');
    expect(writer.written).toEqual(lines('a', 1));
    expect(counters.get('write_retries', { output: 'out1', kind: 'retryable' })).toBe(1);
  });
});

describe('Output: probing a down server', () => {
  it('while InfluxDB does not answer, pings it every second and keeps the write backoff; the first answer retries at once', async () => {
    vi.setSystemTime(0);
    writer.pings = [false, false, false, false, true];
    writer.behaviour = (_l, n) => (n <= 3 ? err('retryable') : undefined); // no status: nothing answered
    make(config({ retry: { initial: 1000, max: 60_000 } }), () => 1);
    const w = write(['a v=1 1']);
    await tick(0);
    await tick(4500);
    // Data on its backoff: at 0, 1 s, 3 s (then 4 s to wait); pings every second meanwhile.
    expect(writer.calls.map((c) => c.at)).toEqual([0, 1000, 3000]);
    expect(writer.pinged).toEqual([1000, 2000, 3000, 4000]);
    expect(w.outcome()).toBeUndefined();
    await tick(500); // the ping at 5 s answers: the write goes at once instead of at 7 s
    expect(writer.calls.map((c) => c.at)).toEqual([0, 1000, 3000, 5000]);
    expect(w.outcome()).toBe('settled');
    expect(counters.get('write_probes', labels)).toBe(writer.pinged.length);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an HTTP error (the server answers: 503, 429) waits its backoff without probing', async () => {
    writer.pings = [true];
    writer.behaviour = (_l, n) => (n === 1 ? err('retryable', { status: 503 }) : undefined);
    make(config({ retry: { initial: 8000, max: 60_000 } }), () => 1);
    const w = write(['a v=1 1']);
    await tick(7999);
    expect(writer.calls).toHaveLength(1);
    expect(writer.pinged).toEqual([]);
    await tick(1);
    expect(w.outcome()).toBe('settled');
  });

  it('close() while probing leaves no timer', async () => {
    writer.pings = [false];
    writer.behaviour = () => err('retryable');
    make();
    const w = write(['a v=1 1']);
    await tick(10_000);
    expect(writer.pinged.length).toBeGreaterThan(5);
    out.close();
    await tick(0);
    expect(w.outcome()).toBe('halted');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Output: wake, halt, close', () => {
  it('wake() cuts a backoff short: the retry happens at once', async () => {
    make(config({ retry: { initial: 60_000, max: 60_000 } }));
    writer.behaviour = (_l, n) => (n === 1 ? err('retryable') : undefined);
    const w = write(lines('a', 2));
    await tick();
    expect(writer.calls).toHaveLength(1);
    out.wake();
    await tick();
    expect(await w.done).toBe('settled');
    expect(writer.written).toEqual(lines('a', 2));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('halt() ends a write waiting out a backoff as halted, nothing counted as dropped', async () => {
    make(config({ retry: { initial: 100, max: 400 } }));
    writer.behaviour = () => err('retryable', { status: 503 });
    const w = write(lines('a', 5));
    await tick(1000);
    out.halt();
    expect(await w.done).toBe('halted');
    expect(counters.total('points_dropped')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(await out.write(LineBatch.of(lines('b', 1)))).toBe('halted'); // after halt nothing is sent
    expect(writer.calls.every((c) => c.lines[0]?.startsWith('a'))).toBe(true);
  });

  it('halt() aborts a request in flight', async () => {
    make();
    writer.behaviour = () => 'hang';
    const w = write(lines('a', 3));
    await tick();
    expect(writer.inFlight).toBe(1);
    out.halt();
    expect(await w.done).toBe('halted');
    expect(writer.inFlight).toBe(0);
  });

  it('close() halts and closes the writer once', async () => {
    make();
    out.close();
    out.close();
    expect(writer.closed).toBe(true);
    expect(await out.write(LineBatch.of(lines('a', 1)))).toBe('halted');
    expect(writer.calls).toHaveLength(0);
  });
});
