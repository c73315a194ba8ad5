import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InfluxV1OutputConfig, OutputConfig } from '../../src/config/types.js';
import { Counters } from '../../src/observe/counters.js';
import { createLogger } from '../../src/observe/logger.js';
import type { DeadLetterEntry, DeadLetterSink } from '../../src/sink/dead-letter.js';
import type { Writer } from '../../src/sink/influx-writer.js';
import { Output } from '../../src/sink/output.js';
import { WriteError } from '../../src/sink/write-error.js';

/** What the fake InfluxDB does with one request: nothing (204), an error, or never answer. */
type Behaviour = (lines: string[], n: number) => WriteError | 'hang' | undefined;

class FakeWriter implements Writer {
  readonly calls: { lines: string[]; at: number }[] = [];
  readonly written: string[] = [];
  behaviour: Behaviour = () => undefined;
  closed = false;
  inFlight = 0;
  maxInFlight = 0;
  private releases: (() => void)[] = [];

  write(body: string, pointCount: number, signal?: AbortSignal): Promise<void> {
    const lines = body.split('\n');
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
    max_pending: 64 << 20,
    retry: { initial: 1000, max: 60_000 },
    concurrency: 1,
    ...over,
  };
}

const lines = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')} v=1 ${i}`);
const err = (kind: WriteError['kind'], extra: ConstructorParameters<typeof WriteError>[2] = {}): WriteError => new WriteError(kind, `HTTP ${extra.status ?? 0}: ${kind}`, extra);

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
  it('writes a submitted batch as one request and counts it', async () => {
    make().start();
    out.submit(['a v=1 1', 'b v=2 2', 'c v=3 3']);
    await tick();
    expect(writer.calls.map((c) => c.lines)).toEqual([['a v=1 1', 'b v=2 2', 'c v=3 3']]);
    expect(counters.get('points_written', labels)).toBe(3);
    expect(counters.get('write_requests', labels)).toBe(1);
    expect(out.pendingPoints).toBe(0);
    expect(await out.stop(1000)).toBe(true);
    expect(writer.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds submitted data until start()', async () => {
    make();
    out.submit(lines('a', 2));
    await tick(10);
    expect(writer.calls).toHaveLength(0);
    expect(out.pendingPoints).toBe(2);
    out.start();
    await tick();
    expect(writer.written).toEqual(lines('a', 2));
    await out.stop(1000);
  });

  it('coalesces batches waiting behind a request, up to batch.max_points, in order', async () => {
    make(config({ batch: { max_points: 5, max_age: 1000 } })).start();
    writer.behaviour = (_l, n) => (n === 1 ? 'hang' : undefined);
    out.submit(lines('a', 2));
    await tick();
    out.submit(lines('b', 2));
    out.submit(lines('c', 2));
    out.submit(lines('d', 2));
    expect(out.pendingPoints).toBe(8);
    expect(out.pendingBytes).toBe(8 * (lines('a', 1)[0] as string).length + 8);
    writer.release();
    await tick();
    expect(writer.calls.map((c) => c.lines.length)).toEqual([2, 5, 1]);
    expect(writer.written).toEqual([...lines('a', 2), ...lines('b', 2), ...lines('c', 2), ...lines('d', 2)]);
    expect(counters.get('points_written', labels)).toBe(8);
    await out.stop(1000);
  });

  it('keeps up to `concurrency` requests in flight', async () => {
    make(config({ concurrency: 3, batch: { max_points: 2, max_age: 1000 } })).start();
    writer.behaviour = () => 'hang';
    out.submit(lines('a', 10));
    await tick();
    expect(writer.maxInFlight).toBe(3);
    expect(writer.calls.map((c) => c.lines[0])).toEqual(['a000 v=1 0', 'a002 v=1 2', 'a004 v=1 4']);
    writer.behaviour = () => undefined;
    writer.release();
    await tick();
    expect(writer.written.slice().sort()).toEqual(lines('a', 10));
    expect(writer.maxInFlight).toBe(3);
    await out.stop(1000);
  });

  it('ignores empty batches and never throws from submit', () => {
    make().start();
    expect(() => out.submit([])).not.toThrow();
    expect(() => out.submit(undefined as unknown as string[])).not.toThrow();
    expect(out.pendingPoints).toBe(0);
  });
});

describe('Output: retry', () => {
  it('retries a retryable failure with exponential backoff and full jitter', async () => {
    make(config({ retry: { initial: 1000, max: 60_000 } }), () => 0.5).start();
    writer.behaviour = (_l, n) => (n <= 3 ? err('retryable', { status: 503 }) : undefined);
    out.submit(lines('a', 3));
    await tick();
    expect(writer.calls).toHaveLength(1);
    expect(out.status.state).toBe('down');
    expect(out.status.lastError).toContain('503');
    await tick(499);
    expect(writer.calls).toHaveLength(1);
    await tick(1); // 0.5 * 1000
    expect(writer.calls).toHaveLength(2);
    await tick(999);
    expect(writer.calls).toHaveLength(2);
    await tick(1); // 0.5 * 2000
    expect(writer.calls).toHaveLength(3);
    await tick(2000); // 0.5 * 4000
    expect(writer.calls).toHaveLength(4);
    expect(writer.written).toEqual(lines('a', 3));
    expect(counters.get('write_retries', { output: 'out1', kind: 'retryable' })).toBe(3);
    expect(counters.get('write_requests', labels)).toBe(4);
    expect(out.status.state).toBe('up');
    expect(logs.filter((l) => l.msg.includes('write failed, retrying'))).toHaveLength(1); // rate limited
    await out.stop(1000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours Retry-After', async () => {
    make(config({ retry: { initial: 100, max: 1000 } })).start();
    writer.behaviour = (_l, n) => (n === 1 ? err('retryable', { status: 429, retryAfterMs: 7000 }) : undefined);
    out.submit(lines('a', 1));
    await tick(6999);
    expect(writer.calls).toHaveLength(1);
    await tick(1);
    expect(writer.calls).toHaveLength(2);
    expect(writer.written).toHaveLength(1);
    await out.stop(1000);
  });

  it('keeps batches in order while retrying', async () => {
    make().start();
    writer.behaviour = (_l, n) => (n <= 2 ? err('retryable') : undefined);
    out.submit(lines('a', 2));
    out.submit(lines('b', 2));
    await tick(60_000);
    expect(writer.written).toEqual([...lines('a', 2), ...lines('b', 2)]);
    await out.stop(1000);
  });

  it('splits a batch InfluxDB finds too large, and sends smaller requests from then on', async () => {
    make().start();
    writer.behaviour = (l) => (l.length > 2 ? err('too_large', { status: 413 }) : undefined);
    out.submit(lines('a', 5));
    await tick();
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 3, 2, 1, 2]);
    expect(writer.written).toEqual(lines('a', 5));
    expect(counters.get('write_retries', { output: 'out1', kind: 'too_large' })).toBe(2);
    out.submit(lines('b', 4));
    await tick();
    expect(writer.calls.slice(5).map((c) => c.lines.length)).toEqual([2, 2]);
    expect(deadLetter.entries).toHaveLength(0);
    await out.stop(1000);
  });

  it('dead-letters a single line that is still too large', async () => {
    make().start();
    writer.behaviour = (l) => (l.some((x) => x.startsWith('huge')) ? err('too_large', { status: 413 }) : undefined);
    out.submit(['ok1 v=1 1', 'huge v="…" 2', 'ok2 v=1 3']);
    await tick();
    expect(writer.written).toEqual(['ok1 v=1 1', 'ok2 v=1 3']);
    expect(deadLetter.entries).toEqual([{ reason: 'too_large', output: 'out1', line: 'huge v="…" 2', message: 'HTTP 413: too_large' }]);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'too_large' })).toBe(1);
    await out.stop(1000);
  });

  it('bisects a rejected batch, dead-letters exactly the bad lines and writes the rest', async () => {
    make().start();
    const batch = lines('g', 16);
    batch[3] = 'BAD1 v=x 3';
    batch[12] = 'BAD2 v=y 12';
    writer.behaviour = (l) => (l.some((x) => x.startsWith('BAD')) ? new WriteError('bad_request', "HTTP 400: unable to parse 'BAD': invalid number", { status: 400 }) : undefined);
    out.submit(batch);
    await tick();
    expect(writer.written).toEqual(batch.filter((l) => !l.startsWith('BAD')));
    expect(deadLetter.entries.map((e) => [e.reason, e.line, e.message])).toEqual([
      ['bad_request', 'BAD1 v=x 3', "HTTP 400: unable to parse 'BAD': invalid number"],
      ['bad_request', 'BAD2 v=y 12', "HTTP 400: unable to parse 'BAD': invalid number"],
    ]);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'bad_request' })).toBe(2);
    expect(counters.get('points_written', labels)).toBe(14);
    expect(counters.get('write_requests', labels)).toBeLessThan(16); // bisection, not one request per line
    await out.stop(1000);
  });

  it('partial write: InfluxDB kept the rest; one dead-letter record, the reported number counted', async () => {
    make().start();
    const message = 'HTTP 400: partial write: field type conflict: input field "v" on measurement "m" is type integer, already exists as type float dropped=2';
    writer.behaviour = () => new WriteError('bad_request', message, { status: 400, partial: true, dropped: 2 });
    out.submit(lines('m', 5));
    await tick();
    expect(writer.calls).toHaveLength(1); // not retried
    expect(deadLetter.entries).toHaveLength(1);
    expect(deadLetter.entries[0]).toMatchObject({ reason: 'partial_write', output: 'out1' });
    expect(deadLetter.entries[0]?.message).toContain('dropped=2');
    expect(counters.get('dropped_points', { output: 'out1', reason: 'partial_write' })).toBe(2);
    expect(counters.get('points_written', labels)).toBe(3);
    expect(out.pendingPoints).toBe(0);
    await out.stop(1000);
  });

  it('auth errors: keeps the data, retries slowly, logs the fix at most once a minute', async () => {
    const cfg = config({ username: 'edge', password: 's3cret' });
    make(cfg, () => 0).start();
    let refuse = true;
    writer.behaviour = () => (refuse ? err('auth', { status: 401 }) : undefined);
    out.submit(lines('a', 4));
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
    expect(errors[0]?.msg).toContain('outputs[id=out1].username');
    expect(JSON.stringify(logs)).not.toContain('s3cret');
    expect(out.pendingPoints).toBe(4);
    expect(out.status).toMatchObject({ state: 'down', lastErrorKind: 'auth' });
    expect(counters.total('dropped_points')).toBe(0);
    refuse = false;
    await tick(120_000);
    expect(writer.written).toEqual(lines('a', 4));
    expect(out.status.state).toBe('up');
    await out.stop(1000);
  });

  it('a missing database: keeps the data, says how to create it', async () => {
    make(config(), () => 0).start();
    writer.behaviour = (_l, n) => (n <= 2 ? new WriteError('not_found', 'HTTP 404: database not found: "sensors"', { status: 404 }) : undefined);
    out.submit(lines('a', 2));
    await tick(60_000);
    expect(logs.find((l) => l.level === 50)?.msg).toContain(`CREATE DATABASE "sensors"`);
    expect(writer.written).toEqual(lines('a', 2));
    expect(counters.get('write_retries', { output: 'out1', kind: 'not_found' })).toBe(2);
    await out.stop(1000);
  });

  it('fatal errors dead-letter the lines and count them', async () => {
    make().start();
    writer.behaviour = (_l, n) => (n === 1 ? new WriteError('fatal', 'HTTP 405: method not allowed', { status: 405 }) : undefined);
    out.submit(lines('a', 3));
    out.submit(lines('b', 1));
    await tick();
    expect(deadLetter.entries.map((e) => e.line)).toEqual(lines('a', 3));
    expect(deadLetter.entries.every((e) => e.reason === 'fatal')).toBe(true);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'fatal' })).toBe(3);
    expect(writer.written).toEqual(lines('b', 1));
    await out.stop(1000);
  });

  it('treats a plain thrown error as retryable', async () => {
    make().start();
    writer.behaviour = (_l, n) => {
      if (n === 1) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return undefined;
    };
    out.submit(lines('a', 1));
    await tick(1000);
    expect(writer.written).toEqual(lines('a', 1));
    expect(counters.get('write_retries', { output: 'out1', kind: 'retryable' })).toBe(1);
    await out.stop(1000);
  });
});

describe('Output: memory bound', () => {
  it('drops exactly the oldest waiting lines beyond max_pending and counts them', async () => {
    const line = (p: string, i: number): string => `${p}${i} v=10 ${i}`; // 9 chars + newline = 10 bytes
    const batch = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => line(p, i));
    make(config({ max_pending: 100 })).start();
    let down = true;
    writer.behaviour = () => (down ? err('retryable', { status: 503 }) : undefined);
    out.submit(batch('A', 5)); // taken in flight, failing: 50 bytes
    await tick();
    out.submit(batch('B', 5)); // waiting: 100 bytes in all
    expect(out.pendingBytes).toBe(100);
    expect(counters.total('dropped_points')).toBe(0);
    out.submit(batch('C', 3)); // 130 bytes: the 3 oldest waiting lines (B0..B2) go
    expect(counters.get('dropped_points', { output: 'out1', reason: 'memory_full' })).toBe(3);
    expect(out.pendingBytes).toBe(100);
    expect(out.pendingPoints).toBe(10);
    out.submit(batch('D', 7)); // 170 bytes: B3, B4, C0..C2, D0 and D1 go
    expect(counters.get('dropped_points', { output: 'out1', reason: 'memory_full' })).toBe(10);
    expect(out.pendingPoints).toBe(10);
    expect(logs.filter((l) => l.level === 40 && l.msg.includes('max_pending'))).toHaveLength(1);
    down = false;
    await tick(60_000);
    expect(writer.written).toEqual([...batch('A', 5), ...batch('D', 7).slice(2)]);
    expect(counters.get('points_written', labels)).toBe(10);
    await out.stop(1000);
  });

  it('a batch larger than max_pending keeps only its newest lines', async () => {
    make(config({ max_pending: 30 }));
    out.submit(Array.from({ length: 10 }, (_, i) => `x${i} v=1 ${i}`)); // 10 bytes each
    expect(out.pendingPoints).toBe(3);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'memory_full' })).toBe(7);
    out.start();
    await tick();
    expect(writer.written).toEqual(['x7 v=1 7', 'x8 v=1 8', 'x9 v=1 9']);
    await out.stop(1000);
  });
});

describe('Output: stop', () => {
  it('flushes what is pending and resolves true', async () => {
    make(config({ batch: { max_points: 2, max_age: 1000 } })).start();
    writer.behaviour = (_l, n) => (n === 1 ? 'hang' : undefined);
    out.submit(lines('a', 5));
    await tick();
    const stopped = out.stop(5000);
    writer.release();
    expect(await stopped).toBe(true);
    expect(writer.written).toEqual(lines('a', 5));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retries at once when stop interrupts a backoff', async () => {
    make(config({ retry: { initial: 60_000, max: 60_000 } })).start();
    writer.behaviour = (_l, n) => (n === 1 ? err('retryable') : undefined);
    out.submit(lines('a', 2));
    await tick();
    expect(writer.calls).toHaveLength(1);
    const stopped = out.stop(1000);
    await tick();
    expect(await stopped).toBe(true);
    expect(writer.written).toEqual(lines('a', 2));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives up at the timeout, counts what was lost and frees every timer', async () => {
    make(config({ batch: { max_points: 2, max_age: 1000 }, retry: { initial: 100, max: 400 } })).start();
    writer.behaviour = () => err('retryable', { status: 503 });
    out.submit(lines('a', 5));
    await tick(1000);
    let result: boolean | undefined;
    void out.stop(5000).then((r) => (result = r));
    await tick(4999);
    expect(result).toBeUndefined();
    await tick(1);
    expect(result).toBe(false);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'shutdown' })).toBe(5);
    expect(logs.some((l) => l.level === 50 && l.msg.includes('5 points could not be written'))).toBe(true);
    expect(out.pendingPoints).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(writer.closed).toBe(true);
  });

  it('aborts a request that hangs past the timeout', async () => {
    make().start();
    writer.behaviour = () => 'hang';
    out.submit(lines('a', 3));
    await tick();
    const stopped = out.stop(2000);
    await tick(2000);
    expect(await stopped).toBe(false);
    expect(writer.inFlight).toBe(0);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'shutdown' })).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('drops and counts what is submitted after stop; stop is idempotent', async () => {
    make().start();
    expect(await out.stop(1000)).toBe(true);
    out.submit(lines('a', 2));
    expect(counters.get('dropped_points', { output: 'out1', reason: 'stopped' })).toBe(2);
    expect(await out.stop(1000)).toBe(true);
    expect(writer.calls).toHaveLength(0);
  });

  it('stopping before start loses (and counts) what was submitted', async () => {
    make();
    out.submit(lines('a', 2));
    expect(await out.stop(1000)).toBe(false);
    expect(counters.get('dropped_points', { output: 'out1', reason: 'shutdown' })).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
