import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InfluxV1OutputConfig } from '../../src/config/types.js';
import type { JournalRecord } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { createLogger } from '../../src/observe/logger.js';
import { SELF_SOURCE_ID, SELF_TOPIC } from '../../src/types.js';
import type { PipelineStep } from '../../src/pipeline/compose.js';
import { createShaping, noticeReporter, type OutputShaping } from '../../src/pipeline/shaping.js';
import { forgottenNotice, seriesKey } from '../../src/pipeline/series.js';
import { Drain } from '../../src/sink/drain.js';
import { type Writer, bodyText, type Body } from '../../src/sink/influx-writer.js';
import { Output } from '../../src/sink/output.js';
import type { Reading } from '../../src/types.js';

// The drain with a shaping stage from config (pipeline/shaping.ts): time is the records'
// arrival time while replaying and the wall clock (less 1 s) while caught up; readings are
// routed to their rule's chain; edgeflux's own figures bypass the stage.

const MS = 1_000_000n;

class RecordingWriter implements Writer {
  readonly written: string[] = [];
  async write(body: Body): Promise<void> {
    this.written.push(...bodyText(body).split('\n'));
  }
  close(): void {}
}

/** Payload "value@eventMs"; the series is the topic's last level. */
function decode(rec: JournalRecord): Reading[] {
  const [v, at] = rec.payload.toString().split('@') as [string, string];
  return [{ measurement: 'm', tags: { s: rec.topic.split('/').at(-1) as string }, fields: { v: Number(v) }, time: BigInt(at) * MS }];
}

const cfg: InfluxV1OutputConfig = {
  id: 'out',
  type: 'influxdb_v1',
  url: 'http://127.0.0.1:8086',
  database: 'db',
  timeout: 1000,
  gzip: false,
  batch: { max_points: 100, max_age: 100 },
  retry: { initial: 100, max: 1000 },
  concurrency: 1,
};

let journal: MemoryJournal;
let writer: RecordingWriter;
let counters: Counters;
let logs: { msg: string; [k: string]: unknown }[];
let drain: Drain;

function start(shaping: OutputShaping | undefined): Drain {
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l) as (typeof logs)[number]);
      cb();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const output = new Output({ config: cfg, writer, counters, logger, deadLetter: { record: () => {} } });
  journal.addConsumer(cfg.id);
  drain = new Drain({ journal, output, decode, logger, counters, ...shaping });
  drain.start();
  return drain;
}

function append(topic: string, payload: string, arrivalMs: number, sourceId = 'broker'): void {
  journal.append({ sourceId, topic, payload: Buffer.from(payload), receivedAt: BigInt(arrivalMs) * MS });
}

function shaping(rules: PipelineStep[][], steps: PipelineStep[] = []): OutputShaping {
  const s = createShaping({
    steps,
    rules: rules.map((pipeline) => ({ pipeline })),
    ruleFor: (t) => (t.startsWith('w/') ? 0 : t.startsWith('d/') ? 1 : -1),
    onNotice: noticeReporter('out', counters, createLogger({ level: 'silent' })),
  });
  if (!s) throw new Error('expected a shaping stage');
  return s;
}

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(async () => {
  vi.useFakeTimers({ now: 100_000 });
  journal = new MemoryJournal({ maxBytes: 1 << 20, policy: 'drop-oldest' });
  await journal.open();
  writer = new RecordingWriter();
  counters = new Counters();
  logs = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createShaping', () => {
  it('is absent when no step is configured anywhere (readings go straight to the batches)', () => {
    expect(createShaping({ steps: [], rules: [{ pipeline: [] }], ruleFor: () => 0, onNotice: () => {} })).toBeUndefined();
  });
});

describe('Drain with a shaping stage', () => {
  it("replays on the records' arrival times: an idle window closes between two records, with the wall clock frozen", async () => {
    const window: PipelineStep = { window: { every: 1000, idle: 1000 } };
    const s = shaping([[window], []]);
    append('w/a', '1@0', 0);
    append('w/a', '3@100', 100);
    append('w/b', '5@5000', 5000); // arrives 5 s later: series a has been idle for 1 s by then
    start(s);
    await tick(0);
    expect(s.clock.now()).toBe(5000); // the last record's arrival, not the wall clock (100 s)
    await tick(cfg.batch.max_age);
    expect(writer.written).toEqual(['m,s=a v_mean=2 0']);
    expect(s.pipeline.lowestHeld()).toBe(2); // b's window is open
    expect(drain.lag.cursor).toBe(2);

    // Caught up: the stream clock follows the wall clock less 1 s (100 s - 1 s): b closes.
    await tick(250);
    expect(s.clock.now()).toBe(100_250 - 1000);
    await tick(cfg.batch.max_age);
    expect(writer.written).toEqual(['m,s=a v_mean=2 0', 'm,s=b v_mean=5 5000000000']);
    expect(drain.lag.cursor).toBe(3);
    await drain.stop(1000, false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("routes readings to their rule's chain, then the global steps; edgeflux's own figures bypass both", async () => {
    const s = shaping([[{ window: { every: 1000 } }], [{ deadband: { abs: 1 } }]], [{ dedupe: {} }]);
    append('w/a', '1@0', 100_000);
    append('w/a', '3@100', 100_000);
    append('w/a', '4@1000', 100_000); // closes a's first window
    append('d/x', '10@0', 100_000);
    append('d/x', '10.5@10', 100_000); // inside the deadband
    append('d/x', '12@20', 100_000);
    append('o/y', '7@0', 100_000); // no rule chain: only the global dedupe
    append('o/y', '7@1', 100_000); // a duplicate
    append(SELF_TOPIC, '7@0', 100_000, SELF_SOURCE_ID);
    append(SELF_TOPIC, '7@1', 100_000, SELF_SOURCE_ID); // not deduplicated: not shaped at all
    start(s);
    await tick(cfg.batch.max_age);
    expect([...writer.written].sort()).toEqual(
      ['m,s=a v_mean=2 0', 'm,s=x v=10 0', 'm,s=x v=12 20000000', 'm,s=y v=7 0', `m,s=self v=7 0`, `m,s=self v=7 1000000`].sort(),
    );
    await drain.stop(1000, false);
  });

  it('memory mode stop flushes the open windows; the clock timer is freed', async () => {
    const s = shaping([[{ window: { every: 1000 } }], []]);
    append('w/a', '2@0', 100_000);
    append('w/a', '4@10', 100_000);
    start(s);
    await tick(cfg.batch.max_age);
    expect(writer.written).toEqual([]);
    await drain.stop(1000, true);
    expect(writer.written).toEqual(['m,s=a v_mean=3 0']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts late readings as pipeline_rejected and warns once per interval, naming the series', async () => {
    const warn = vi.fn();
    const report = noticeReporter('out', counters, { warn } as unknown as Parameters<typeof noticeReporter>[2]);
    const s = createShaping({ steps: [{ window: { every: 1000 } }], rules: [], ruleFor: () => -1, onNotice: report })!;
    append('w/a', '1@5000', 100_000);
    append('w/a', '1@10', 100_000); // late
    append('w/a', '1@20', 100_000); // late
    start(s);
    await tick(0);
    expect(counters.get('pipeline_rejected', { output: 'out', op: 'window', reason: 'late', outcome: 'dropped' })).toBe(2);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[1]).toMatch(/window: a reading later than allowed_lateness \(m,s=a\), dropped/);
    await drain.stop(1000, false);
  });
  it('counts a gone series forgotten early (memory_limit) and warns that it may overwrite points', () => {
    const warn = vi.fn();
    const report = noticeReporter('out', counters, { warn } as unknown as Parameters<typeof noticeReporter>[2]);
    report(forgottenNotice('window', seriesKey({ measurement: 'm', tags: { s: 'a' }, fields: {}, time: 0n }), 0n));
    expect(counters.get('pipeline_rejected', { output: 'out', op: 'window', reason: 'memory_limit', outcome: 'forgotten' })).toBe(1);
    expect(warn.mock.calls[0]?.[1]).toMatch(/window: more gone series than max_series to remember: m,s=a forgotten early/);
  });
});

describe('Drain with a shaping stage: the state saved with the cursor', () => {
  const window10s: PipelineStep = { window: { every: 10_000, allowed_lateness: 5_000, aggregates: ['mean', 'count'] } };

  it('a new drain on the same journal takes the state saved with the cursor: the late reading stays late', async () => {
    // A late reading that is the first of its series after the cursor, published one after the other.
    const T = 1_700_000_000_000;
    append('w/B', `10@${T + 2_500}`, 100_000);
    append('w/B', `20@${T + 21_500}`, 100_000);
    append('w/A', `30@${T + 22_500}`, 100_000);
    append('w/B', `99@${T + 5_500}`, 100_000); // late: dropped
    append('w/B', `40@${T + 41_500}`, 100_000);
    start(shaping([[window10s]]));
    await tick(cfg.batch.max_age);
    expect(writer.written.sort()).toEqual([`m,s=B v_mean=10,v_count=1i ${T}000000`, `m,s=B v_mean=20,v_count=1i ${T + 20_000}000000`]);
    expect(drain.lag.cursor).toBe(2); // A's window is open
    await drain.stop(1000, false);

    writer = new RecordingWriter();
    start(shaping([[window10s]]));
    await tick(cfg.batch.max_age);
    // B@T is not written again from the late reading alone (count 1, mean 99).
    expect(writer.written).toEqual([]);
    expect(counters.get('pipeline_rejected', { output: 'out', op: 'window', reason: 'late', outcome: 'dropped' })).toBe(2);
    await drain.stop(1000, false);
  });

  it('a series that went quiet (its window written) and flushes a buffered reading: late, live and after a restart', async () => {
    const T = 1_700_000_000_000;
    append('w/B', `10@${T + 2_500}`, 100_000);
    append('w/B', `20@${T + 3_500}`, 101_000); // B quiet from here: idle (15 s) writes B@T
    append('w/A', `30@${T + 20_000}`, 130_000); // A's window holds the cursor here
    append('w/B', `99@${T + 5_500}`, 140_000); // buffered while B was offline: late
    append('w/B', `40@${T + 41_500}`, 141_000);
    start(shaping([[window10s]]));
    await tick(cfg.batch.max_age);
    expect(writer.written).toEqual([`m,s=B v_mean=15,v_count=2i ${T}000000`]);
    expect(drain.lag.cursor).toBe(2);
    await drain.stop(1000, false);

    writer = new RecordingWriter();
    start(shaping([[window10s]])); // replays from A's record, with B remembered as gone
    await tick(cfg.batch.max_age);
    expect(writer.written).toEqual([]);
    expect(counters.get('pipeline_rejected', { output: 'out', op: 'window', reason: 'late', outcome: 'dropped' })).toBe(2);
    await drain.stop(1000, false);
  });

  it('steady out-of-order traffic: the cursor follows the oldest open window and the journal is trimmed', async () => {
    // 4 sensors, one reading each per second of event time, arriving in real time; every
    // 20th reading arrives 3 s late (within the lateness): windows of one series overlap
    // in seq with the next ones, so merged "aggregated ranges" would pin the cursor.
    const step: PipelineStep = { window: { every: 10_000, allowed_lateness: 5_000 } };
    start(shaping([[step]]));
    let n = 0;
    let late: [string, number][] = [];
    for (let second = 0; second < 300; second++) {
      const now = 100_000 + second * 1000;
      vi.setSystemTime(now);
      for (const s of ['a', 'b', 'c', 'd']) {
        if (n++ % 7 === 0) late.push([s, now]);
        else append(`w/${s}`, `${n}@${now}`, now);
      }
      for (const [s, t] of late.filter(([, t]) => t <= now - 3000)) append(`w/${s}`, `${n}@${t}`, now);
      late = late.filter(([, t]) => t > now - 3000);
      await tick(0);
    }
    await tick(cfg.batch.max_age);
    const { headSeq, oldestSeq } = journal.stats();
    expect(headSeq).toBeGreaterThan(1100);
    // The oldest open window is at most 20 s of traffic (10 s window + 5 s lateness + the 3 s
    // late readings) behind the head: 4 readings a second.
    expect(headSeq - drain.lag.cursor).toBeLessThanOrEqual(20 * 4);
    expect(drain.replayLag).toBe(0);
    expect(oldestSeq).toBe(drain.lag.cursor); // the memory journal dropped what every consumer passed
    await drain.stop(1000, false);
  });
});
