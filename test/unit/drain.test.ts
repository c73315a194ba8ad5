import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Subject, Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InfluxV1OutputConfig } from '../../src/config/types.js';
import type { JournalRecord } from '../../src/journal/journal.js';
import { FileJournal } from '../../src/journal/file-journal.js';
import { MemoryJournal, RECORD_OVERHEAD } from '../../src/journal/memory-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { createLogger, silentLogger } from '../../src/observe/logger.js';
import { createPipeline } from '../../src/pipeline/compose.js';
import type { PointPipeline, TrackedReading } from '../../src/pipeline/tracked.js';
import type { DeadLetterEntry } from '../../src/sink/dead-letter.js';
import { Drain } from '../../src/sink/drain.js';
import { type Writer, bodyText, type Body } from '../../src/sink/influx-writer.js';
import { Output } from '../../src/sink/output.js';
import { WriteError } from '../../src/sink/write-error.js';
import { decodeError, type DecodeError, type Reading } from '../../src/types.js';

/** A writer under the test's control: each request answers at once, fails, or waits for `release(i)`. */
class ScriptedWriter implements Writer {
  mode: 'ok' | 'down' | 'hold' = 'ok';
  /** Answer after this many ms (fake time) in mode ok. */
  delayMs = 0;
  readonly calls: { lines: string[]; settle?: () => void }[] = [];
  readonly written: string[] = [];
  closed = false;

  write(body: Body, _n: number, signal?: AbortSignal): Promise<void> {
    const lines = bodyText(body).split('\n');
    const call: { lines: string[]; settle?: () => void } = { lines };
    this.calls.push(call);
    if (this.mode === 'down') return Promise.reject(new WriteError('retryable', 'HTTP 503: down', { status: 503 }));
    return new Promise((resolve, reject) => {
      let ok = (): void => {
        this.written.push(...lines);
        resolve();
      };
      const onAbort = (): void => reject(new WriteError('retryable', 'aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = ok;
      ok = (): void => {
        signal?.removeEventListener('abort', onAbort);
        done();
      };
      if (this.mode === 'hold') call.settle = ok;
      else if (this.delayMs > 0) setTimeout(ok, this.delayMs);
      else queueMicrotask(ok);
    });
  }

  close(): void {
    this.closed = true;
  }
}

/** Payload "k:1,2,3" → one reading per value (series k, field v); "bad" → a decode error. */
function decode(rec: JournalRecord): Reading[] | DecodeError {
  const text = rec.payload.toString();
  if (text === 'bad') return decodeError('invalid_number', 'bad payload');
  const [k, vals] = text.split(':') as [string, string];
  return vals.split(',').map((v, i) => ({ measurement: 'm', tags: { k }, fields: { v: Number(v) }, time: rec.receivedAt + BigInt(i) }));
}

const line = (k: string, v: number, seq: number, i = 0): string => `m,k=${k} v=${v} ${seq * 1000 + i}`;

let journal: MemoryJournal;
let writer: ScriptedWriter;
let counters: Counters;
let logs: { level: number; msg: string; [k: string]: unknown }[];
let deadLettered: DeadLetterEntry[];
let drain: Drain;
let output: Output;
let decodeErrors: number[];

function config(over: Partial<InfluxV1OutputConfig> = {}): InfluxV1OutputConfig {
  return {
    id: 'out1',
    type: 'influxdb_v1',
    url: 'http://127.0.0.1:8086',
    database: 'sensors',
    timeout: 10_000,
    gzip: false,
    batch: { max_points: 5, max_age: 1000 },
    retry: { initial: 100, max: 1000 },
    concurrency: 1,
    ...over,
  };
}

function make(cfg = config(), pipeline?: PointPipeline): Drain {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l) as (typeof logs)[number]);
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  output = new Output({ config: cfg, writer, counters, logger, random: () => 0.5, deadLetter: { record: (e) => deadLettered.push(e) } });
  journal.addConsumer(cfg.id);
  drain = new Drain({ journal, output, decode, onDecodeError: (r) => decodeErrors.push(r.seq), pipeline, logger, counters });
  return drain;
}

/** Appends messages "k:v" with receivedAt = seq µs (so line times are seq*1000). */
function append(...payloads: string[]): number[] {
  return payloads.map((p) => {
    const seq = journal.stats().headSeq;
    const r = journal.append({ sourceId: 's', topic: 't', payload: Buffer.from(p), receivedAt: BigInt(seq) * 1000n });
    if (r === 'full') throw new Error('full');
    return r;
  });
}
const values = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `a:${from + i}`);

const tick = (ms = 0): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);

beforeEach(async () => {
  vi.useFakeTimers();
  journal = new MemoryJournal({ maxBytes: 10 << 20, policy: 'drop-oldest' });
  await journal.open();
  writer = new ScriptedWriter();
  counters = new Counters();
  logs = [];
  deadLettered = [];
  decodeErrors = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Drain: reading, batching, committing', () => {
  it('writes every journaled message once, in batches of max_points or max_age, and commits after the write', async () => {
    make().start();
    await tick();
    append(...values(12));
    expect(drain.pending).toEqual({ unread: 12, unwritten: 0 });
    await tick();
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 5]);
    expect(drain.lag).toEqual({ cursor: 10, behind: 2 }); // 10 and 11 wait in the partial batch
    expect(drain.pending).toEqual({ unread: 0, unwritten: 2 });
    await tick(999);
    expect(writer.calls).toHaveLength(2);
    await tick(1);
    expect(writer.written).toEqual(Array.from({ length: 12 }, (_, i) => line('a', i, i)));
    expect(drain.lag).toEqual({ cursor: 12, behind: 0 });
    expect(drain.pending).toEqual({ unread: 0, unwritten: 0 });
    expect(journal.cursor('out1')).toBe(12);
    expect(journal.stats().bytes).toBe(0); // everything written: freed
    expect(await drain.stop(1000, false)).toEqual({ left: 0 });
    expect(writer.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a backlog (at start, or a full read behind) sends its last partial batch once it reaches the head, not after max_age', async () => {
    append(...values(12));
    make(config({ batch: { max_points: 5, max_age: 60_000 } })).start();
    await tick();
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 5, 2]);
    expect(drain.lag).toEqual({ cursor: 12, behind: 0 });
    // Caught up: live appends wait for max_age again.
    append('a:12');
    await tick(59_999);
    expect(writer.calls).toHaveLength(3);
    await tick(1);
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 5, 2, 1]);
    // Falling behind by a full read (16 here) is a backlog too.
    append(...values(40, 13));
    await tick();
    expect(writer.calls.map((c) => c.lines.length)).toEqual([5, 5, 2, 1, 5, 5, 5, 5, 5, 5, 5, 5]);
    expect(writer.written).toHaveLength(53);
    expect(drain.lag).toEqual({ cursor: 53, behind: 0 });
    await drain.stop(1000, false);
  });

  it('picks up appends made after it reached the head; never sends an empty batch', async () => {
    make().start();
    await tick(5000);
    expect(writer.calls).toHaveLength(0);
    append('a:1');
    await tick(10);
    append('a:2', 'a:3');
    await tick(1000);
    expect(writer.calls.map((c) => c.lines)).toEqual([[line('a', 1, 0), line('a', 2, 1), line('a', 3, 2)]]);
    expect(drain.lag.cursor).toBe(3);
    await drain.stop(1000, false);
  });

  it('output down: the cursor stays, reading stops once a batch waits, the data waits in the journal', async () => {
    append(...values(1000));
    let taken = 0;
    const read = journal.read.bind(journal);
    journal.read = async (from, max) => {
      const r = await read(from, max);
      taken += r.length;
      return r;
    };
    writer.mode = 'down';
    make(config({ batch: { max_points: 10, max_age: 1000 } })).start();
    await tick(60_000);
    expect(writer.calls.length).toBeGreaterThan(50);
    expect(writer.calls.every((c) => c.lines[0] === line('a', 0, 0))).toBe(true); // oldest first, retried
    expect(taken).toBeLessThanOrEqual(40); // one batch in flight, one waiting, a partial one, one read ahead
    expect(drain.lag).toEqual({ cursor: 0, behind: 1000 });
    expect(output.status.state).toBe('down');
    writer.mode = 'ok';
    await tick(2000);
    expect(writer.written).toEqual(Array.from({ length: 1000 }, (_, i) => line('a', i, i)));
    expect(drain.lag).toEqual({ cursor: 1000, behind: 0 });
    expect(counters.total('points_dropped') + counters.total('messages_dropped')).toBe(0);
    await drain.stop(1000, false);
  });

  it('concurrency: batches finishing out of order never move the cursor past one still in flight', async () => {
    writer.mode = 'hold';
    append(...values(15));
    make(config({ concurrency: 3 })).start();
    await tick();
    expect(writer.calls.map((c) => c.lines[0])).toEqual([line('a', 0, 0), line('a', 5, 5), line('a', 10, 10)]);
    expect(drain.pending).toEqual({ unread: 0, unwritten: 15 }); // three batches in flight
    writer.calls[2]!.settle!();
    writer.calls[1]!.settle!();
    await tick();
    expect(drain.lag.cursor).toBe(0);
    writer.calls[0]!.settle!();
    await tick();
    expect(drain.lag.cursor).toBe(15);
    await drain.stop(1000, false);
  });

  it('a message whose readings span two batches is done only when both are written', async () => {
    writer.mode = 'hold';
    append('a:1,2,3', 'b:4,5,6');
    make(config({ concurrency: 2, batch: { max_points: 4, max_age: 1000 } })).start();
    await tick(1000);
    expect(writer.calls.map((c) => c.lines.length)).toEqual([4, 2]); // [a a a b] [b b]
    writer.calls[0]!.settle!();
    await tick();
    expect(drain.lag.cursor).toBe(1); // message 1 still has two readings in flight
    writer.calls[1]!.settle!();
    await tick();
    expect(drain.lag.cursor).toBe(2);
    await drain.stop(1000, false);
  });

  it('a reading held by the shaping stage holds the cursor back until it is emitted', async () => {
    const held: TrackedReading[] = [];
    const release$ = new Subject<void>();
    const pipeline: PointPipeline = {
      // Holds every reading of series "w" (a stand-in for an open window) until release$.
      operator: (source) =>
        new Observable<TrackedReading>((out) => {
          const r = release$.subscribe(() => held.splice(0).forEach((t) => out.next(t)));
          const s = source.subscribe({ next: (t) => (t.reading.tags.k === 'w' ? held.push(t) : out.next(t)), complete: () => out.complete() });
          return () => (r.unsubscribe(), s.unsubscribe());
        }),
      lowestHeld: () => held[0]?.seq,
    };
    append('a:1', 'w:2', 'a:3', 'a:4');
    make(config(), pipeline).start();
    await tick(1000);
    expect(writer.written).toEqual([line('a', 1, 0), line('a', 3, 2), line('a', 4, 3)]);
    expect(drain.lag.cursor).toBe(1);
    release$.next();
    await tick(1000);
    expect(writer.written).toContain(line('w', 2, 1));
    expect(drain.lag.cursor).toBe(4);
    await drain.stop(1000, false);
  });

  it('with a real window stage: the cursor waits for the open window, then passes it once its point is written', async () => {
    append('a:1', 'a:2', 'a:3'); // event times 0, 1, 2 µs: one 1 s window
    make(config(), createPipeline([{ window: { every: 1000, aggregates: ['mean', 'count'] } }])).start();
    await tick(500);
    expect(writer.written).toEqual([]);
    expect(drain.lag.cursor).toBe(0); // the window holds all three
    await tick(2000); // idle: the window closes on processing time
    expect(writer.written).toEqual(['m,k=a v_mean=2,v_count=3i 0']);
    expect(drain.lag.cursor).toBe(3);
    await drain.stop(1000, false);
  });

  it('messages that no longer decode are reported once, written nowhere, and passed', async () => {
    append('a:1', 'bad', 'a:2');
    make().start();
    await tick(1000);
    expect(decodeErrors).toEqual([1]);
    expect(writer.written).toEqual([line('a', 1, 0), line('a', 2, 2)]);
    expect(drain.lag.cursor).toBe(3);
    await drain.stop(1000, false);
  });

  it('reads a backlog of small messages at most 1024 records at a time, however many a batch holds', async () => {
    append(...values(6000));
    const asked: number[] = [];
    const read = journal.read.bind(journal);
    vi.spyOn(journal, 'read').mockImplementation((from, max) => {
      asked.push(max);
      return read(from, max);
    });
    make(config({ batch: { max_points: 5000, max_age: 1000 } })).start();
    await tick();
    expect(writer.written).toHaveLength(6000);
    expect(asked.length).toBeGreaterThan(5);
    expect(Math.max(...asked)).toBe(1024); // the read's records live until the last is fed (drain.ts, MAX_READ)
    await drain.stop(1000, false);
  });

  it('counts the messages the quota dropped before it could read them, exactly', async () => {
    journal = new MemoryJournal({ maxBytes: 100 * (RECORD_OVERHEAD + 2 + 6), policy: 'drop-oldest' }); // 100 records of 6-byte payloads
    await journal.open();
    writer.mode = 'down';
    make(config({ batch: { max_points: 10, max_age: 100 } })).start();
    for (let i = 0; i < 1000; i++) append(`a:${String(i).padStart(4, '0')}`);
    await tick(5000);
    writer.mode = 'ok';
    await tick(5000);
    const written = writer.written.length;
    const dropped = counters.get('messages_dropped', { output: 'out1', reason: 'quota' });
    expect(dropped).toBeGreaterThan(0);
    expect(written + dropped).toBe(1000);
    expect(writer.written.at(-1)).toBe(line('a', 999, 999)); // the newest survive
    expect(new Set(writer.written).size).toBe(written);
    expect(logs.some((l) => l.level === 40 && /dropped by the spool quota/.test(l.msg))).toBe(true);
    await drain.stop(1000, false);
  });
});

describe('Drain: seqs missing from a read', () => {
  /** Makes journal.read leave out seqs 3..5 (`times` reads long, then it behaves). */
  function skipping(times: number): void {
    const read = journal.read.bind(journal);
    let left = times;
    journal.read = async (from, max) => {
      const r = await read(from, max);
      if (left > 0 && r.some((x) => x.seq === 3)) {
        left--;
        return r.filter((x) => x.seq < 3 || x.seq > 5);
      }
      return r;
    };
  }

  it('reads them again when the journal skipped them by mistake: nothing lost', async () => {
    append(...values(10));
    skipping(1);
    make().start();
    await tick(1000);
    expect(writer.written).toEqual(Array.from({ length: 10 }, (_, i) => line('a', i, i)));
    expect(counters.total('messages_dropped')).toBe(0);
    expect(logs.some((l) => l.level === 40 && /skipped seqs 3\.\.5/.test(l.msg))).toBe(true);
    await drain.stop(1000, false);
  });

  it('counts them as damaged when they are missing twice', async () => {
    append(...values(10));
    skipping(Infinity);
    make().start();
    await tick(1000);
    expect(writer.written).toHaveLength(7);
    expect(counters.get('messages_dropped', { output: 'out1', reason: 'damaged' })).toBe(3);
    expect(drain.lag.cursor).toBe(10);
    await drain.stop(1000, false);
  });
});

describe('Drain: stop and restart', () => {
  it('stop writes the partial batch at once, within the timeout', async () => {
    make().start();
    await tick();
    append(...values(3));
    await tick();
    expect(writer.calls).toHaveLength(0); // waiting for max_age
    const stopped = drain.stop(5000, false);
    await tick();
    expect(await stopped).toEqual({ left: 0 });
    expect(writer.written).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('output down at stop: halts at the timeout, leaves the rest behind the cursor; a new drain replays it', async () => {
    writer.mode = 'down';
    append(...values(8));
    make().start();
    await tick(500);
    let result: { left: number } | undefined;
    void drain.stop(2000, false).then((r) => (result = r));
    await tick(1999);
    expect(result).toBeUndefined();
    await tick(1);
    expect(result).toEqual({ left: 8 });
    expect(journal.cursor('out1')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(counters.total('points_dropped')).toBe(0);

    // The next start: a new output and drain on the same journal write everything.
    writer = new ScriptedWriter();
    make().start();
    await tick(1000);
    expect(writer.written).toEqual(Array.from({ length: 8 }, (_, i) => line('a', i, i)));
    expect((await drain.stop(1000, false)).left).toBe(0);
  });

  it('durable stop leaves what the shaping stage holds in the journal; memory stop flushes it', async () => {
    const holdAll = (): PointPipeline => {
      const held: TrackedReading[] = [];
      return {
        operator: (source) =>
          new Observable<TrackedReading>((out) =>
            source.subscribe({
              next: (t) => held.push(t),
              complete: () => {
                held.splice(0).forEach((t) => out.next(t));
                out.complete();
              },
            }),
          ),
        lowestHeld: () => held[0]?.seq,
      };
    };
    append(...values(3));
    make(config(), holdAll()).start();
    await tick(2000);
    expect(await drain.stop(1000, false)).toEqual({ left: 3 });
    expect(writer.written).toHaveLength(0);

    writer = new ScriptedWriter();
    make(config(), holdAll()).start();
    await tick(2000);
    const stopped = drain.stop(1000, true);
    await tick();
    expect(await stopped).toEqual({ left: 0 });
    expect(writer.written).toHaveLength(3);
  });
});

describe('Drain: progress', () => {
  it('logs messages left, rate and ETA every 10 s while catching up, then once that it caught up', async () => {
    append(...values(35_000));
    writer.delayMs = 100; // 100 points per 100 ms: 1000/s
    make(config({ batch: { max_points: 100, max_age: 1000 } })).start();
    await tick(45_000);
    type Progress = { messages_left: number; rate_per_s: number; eta_s: number };
    const progress = logs.filter((l) => l.level === 30 && String(l.msg).includes('catching up')) as unknown as Progress[];
    expect(progress).toHaveLength(3);
    const first = progress[0]!;
    expect(first.rate_per_s).toBeGreaterThan(900);
    expect(first.rate_per_s).toBeLessThan(1100);
    expect(first.messages_left).toBeGreaterThan(24_000);
    expect(first.messages_left).toBeLessThan(26_000);
    expect(Math.abs(first.eta_s - first.messages_left / first.rate_per_s)).toBeLessThan(2);
    expect(progress[2]!.messages_left).toBeLessThan(first.messages_left);
    expect(logs.filter((l) => String(l.msg).includes('caught up'))).toHaveLength(1);
    expect(drain.lag.behind).toBe(0);
    await drain.stop(1000, false);
  });
});

describe('Drain over a FileJournal', () => {
  it('a record read from the journal that does not decode reaches onDecodeError with all its fields', async () => {
    vi.useRealTimers();
    const dir = await mkdtemp(join(tmpdir(), 'edgeflux-drain-fj-'));
    const fj = new FileJournal({ dir, maxBytes: 1 << 30, policy: 'drop-oldest', sync: 50, logger: silentLogger() });
    try {
      await fj.open();
      fj.addConsumer('out1');
      for (const p of ['a:1', 'bad', 'a:2']) fj.append({ sourceId: 'mqtt-x', topic: `t/${p}`, payload: Buffer.from(p), receivedAt: 5_000n });
      await fj.flush();
      const seen: JournalRecord[] = [];
      const out = new Output({ config: config(), writer, counters, logger: silentLogger(), deadLetter: { record: () => {} } });
      const d = new Drain({ journal: fj, output: out, decode, onDecodeError: (r) => seen.push(r), logger: silentLogger(), counters });
      d.start();
      for (let i = 0; i < 200 && d.lag.cursor < 3; i++) await new Promise((r) => setTimeout(r, 10));
      await d.stop(1000, false);
      expect(seen.map((r) => ({ seq: r.seq, sourceId: r.sourceId, topic: r.topic, payload: r.payload.toString(), receivedAt: r.receivedAt }))).toEqual([
        { seq: 1, sourceId: 'mqtt-x', topic: 't/bad', payload: 'bad', receivedAt: 5_000n },
      ]);
      expect(writer.written).toEqual(['m,k=a v=1 5000', 'm,k=a v=2 5000']);
    } finally {
      await fj.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
