import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { composeSteps } from '../../src/pipeline/compose.js';
import { Holdback, type SeqReading } from '../../src/pipeline/holdback.js';
import type { Notice } from '../../src/pipeline/series.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';

/** A real full GC: the test runner does not pass --expose-gc, so turn it on here. */
function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const MB = 1024 * 1024;
const SERIES = 100_000;
const BLOCK = 10_000; // series active at once (one block of devices after the other)
const ROUNDS = 10; // readings per series

function reading(seq: number, id: number, tMs: number, v: number): SeqReading {
  return {
    seq,
    reading: {
      measurement: 'climate',
      tags: { device: `dev${id}`, site: 'pi1' },
      fields: { temperature: v, humidity: 40 + v },
      time: BigInt(tMs) * 1_000_000n,
    },
  };
}

describe('pipeline memory', () => {
  it('1,000,000 readings over 100,000 series with idle eviction: the heap stays under a ceiling', () => {
    const gc = fullGc();
    const clock = new StreamClock(0);
    const holdback = new Holdback();
    const input = new Subject<SeqReading>();
    let emitted = 0;
    const steps = [
      { deadband: { fields: ['temperature'], abs: 0.5, idle: 2000 } },
      { window: { every: 1000, aggregates: ['mean', 'min', 'max', 'count'] as const, idle: 2000 } },
    ];
    const sub = input.pipe(composeSteps(steps, { scheduler: clock, holdback, maxSeries: SERIES })).subscribe(() => emitted++);
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let seq = 0;
    // Block b: series b·10k … b·10k+9999 send 10 readings each within 1 s of stream time, then
    // fall silent; with idle 2 s at most three blocks (30k series) are alive at once.
    for (let block = 0; block < SERIES / BLOCK; block++) {
      for (let round = 0; round < ROUNDS; round++) {
        const t = block * 1000 + round * 100;
        clock.advanceTo(t);
        for (let i = 0; i < BLOCK; i++) input.next(reading(seq++, block * BLOCK + i, t, (i + round) % 7));
      }
      if (block % 3 === 2) {
        gc(); // sampled after blocks 2, 5, 8: three blocks of series are alive then
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      }
    }
    clock.advanceTo((SERIES / BLOCK) * 1000 + 5000); // every series idle: windows closed, state evicted
    gc();
    const after = process.memoryUsage().heapUsed - base;
    console.info(`pipeline memory: ${seq} readings, ${emitted} points, peak +${(peak / MB).toFixed(1)} MB, after eviction +${(after / MB).toFixed(1)} MB`);

    expect(seq).toBe(1_000_000);
    expect(emitted).toBe(SERIES); // one window per series (all its readings fall in one second)
    expect(holdback.held).toBe(0);
    expect(clock.pending).toBe(0); // no timer left: every table is empty
    // Measured ≈ 35 MB for ≈ 30k live series (≈ 1.1 KB each: deadband + window state);
    // the same stream without idle eviction ends at ≈ 158 MB (measured). The window step
    // also remembers each series gone idle (its newest time: gone.ts), up to max_series
    // of them: ≈ 160 B each (measured: +16 MB after all 100k went idle, +11 MB at the last
    // sample with 60–70k gone), allowed for below at 200 B.
    const gone = 200;
    expect(peak).toBeLessThan(56 * MB + 7 * BLOCK * gone);
    expect(after).toBeLessThan(4 * MB + SERIES * gone);
    sub.unsubscribe();
  });

  it('the cardinality guard refuses exactly the readings of series beyond max_series', () => {
    const clock = new StreamClock(0);
    const input = new Subject<SeqReading>();
    const refused = new Set<string>();
    let notices = 0;
    let points = 0;
    const cap = 60_000;
    const onNotice = (n: Notice) => {
      notices++;
      refused.add(n.series);
    };
    input.pipe(composeSteps([{ window: { every: 60_000, aggregates: ['count'] } }], { scheduler: clock, onNotice, maxSeries: cap })).subscribe(() => points++);
    let seq = 0;
    for (let round = 0; round < ROUNDS; round++) for (let id = 0; id < SERIES; id++) input.next(reading(seq++, id, round * 1000, round));
    input.complete();
    expect(notices).toBe((SERIES - cap) * ROUNDS);
    expect(refused.size).toBe(SERIES - cap);
    expect(refused.has(`climate,device=dev${cap},site=pi1`)).toBe(true);
    expect(refused.has(`climate,device=dev${cap - 1},site=pi1`)).toBe(false);
    expect(points).toBe(cap);
  });
});
