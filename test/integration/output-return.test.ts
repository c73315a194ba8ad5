import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { Counters } from '../../src/observe/counters.js';
import { createWriter, type Body, type Writer } from '../../src/sink/influx-writer.js';
import { LineBatch } from '../../src/sink/line-batch.js';
import { Output, type Timers } from '../../src/sink/output.js';
import type { InfluxV1OutputConfig } from '../../src/config/types.js';

// InfluxDB's return after a long outage, against a real influxd stopped and restarted on
// the same port. The output's timers run on virtual time (the backoff grows to 60 s
// without waiting for it); the requests are real.

/** Timers on a virtual clock that a test moves forward. */
class VirtualTimers implements Timers {
  now = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }
  /** Fires what is due by now + ms (in time order), letting the real requests finish after each step. */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.now + ms;
    await settle();
    for (;;) {
      const next = [...this.due.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
      await settle();
    }
    this.now = end;
  }
}

/** The real writer, with every request it has in flight tracked (so the test can wait for real I/O). */
function tracked(w: Writer): { writer: Writer; settle: () => Promise<void>; writes: { at: number; ok: boolean }[]; clock: () => number } {
  const pending = new Set<Promise<unknown>>();
  const writes: { at: number; ok: boolean }[] = [];
  let clock = (): number => 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.then(
      () => pending.delete(p),
      () => pending.delete(p),
    );
    return p;
  };
  return {
    writer: {
      write: (body: Body, n: number, signal?: AbortSignal) =>
        track(
          w.write(body, n, signal).then(
            () => void writes.push({ at: clock(), ok: true }),
            (e: unknown) => {
              writes.push({ at: clock(), ok: false });
              throw e;
            },
          ),
        ),
      ping: (ms: number, signal?: AbortSignal) => track(w.ping!(ms, signal)),
      close: () => w.close?.(),
    },
    async settle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    },
    writes,
    set clock(f: () => number) {
      clock = f;
    },
    get clock() {
      return clock;
    },
  };
}

let influx: Influxd;
beforeAll(async () => {
  influx = await startInfluxd();
});
afterAll(async () => {
  await influx?.stop();
});

describe("InfluxDB's return", () => {
  it('is noticed within 2 s even when the write backoff has grown to 60 s', async () => {
    await influx.createDatabase('ret');
    const config: InfluxV1OutputConfig = {
      id: 'local',
      type: 'influxdb_v1',
      url: influx.url,
      database: 'ret',
      timeout: 2000,
      gzip: false,
      batch: { max_points: 5000, max_age: 1000 },
      retry: { initial: 1000, max: 60_000 },
      concurrency: 1,
    };
    const timers = new VirtualTimers();
    const t = tracked(createWriter(config));
    t.clock = () => timers.now;
    const counters = new Counters();
    const out = new Output({
      config,
      writer: t.writer,
      counters,
      timers,
      now: () => timers.now,
      random: () => 1,
      logger: pino({ level: 'silent' }),
      deadLetter: { record: () => undefined },
    });
    try {
      await influx.pause();
      let outcome: string | undefined;
      void out.write(LineBatch.of(['ret v=1 1000000000'])).then((o) => (outcome = o));
      // Failed writes at 0, 1, 3, 7, 15, 31, 63 s: the next retry waits the full 60 s.
      for (let s = 0; s < 70; s++) await timers.advance(1000, t.settle);
      expect(t.writes.filter((w) => !w.ok).length).toBe(7);
      expect(outcome).toBeUndefined();

      await influx.resume(); // returns once influxd answers its /ping
      const answered = timers.now;
      for (let ms = 0; ms < 10_000 && outcome === undefined; ms += 100) await timers.advance(100, t.settle);
      expect(outcome).toBe('settled');
      const first = t.writes.find((w) => w.ok)!;
      expect(first.at - answered).toBeLessThanOrEqual(2000);
      expect(counters.get('write_probes', { output: 'local' })).toBeGreaterThan(60);
      expect(await influx.count('ret', 'ret')).toBe(1);
    } finally {
      out.close();
    }
  });
});
