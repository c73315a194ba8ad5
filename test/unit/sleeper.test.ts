import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Sleeper, sleep } from '../../src/util/sleeper.js';

describe('util/sleeper (virtual time)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleep resolves after its time and not before, and frees its timer', async () => {
    let done = false;
    void sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sleep resolves at once when its signal aborts (before or during the wait), leaving no timer', async () => {
    const ac = new AbortController();
    let done = false;
    void sleep(60_000, ac.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await sleep(60_000, ac.signal); // already aborted: no wait at all
    expect(vi.getTimerCount()).toBe(0);
  });

  it('Sleeper: wakeAll ends every sleep now; a sleep ends when its `until` settles; no timer stays', async () => {
    const s = new Sleeper();
    const woken: number[] = [];
    void s.sleep(5000).then(() => woken.push(1));
    void s.sleep(9000).then(() => woken.push(2));
    let stop!: () => void;
    void s.sleep(9000, new Promise<void>((r) => (stop = r))).then(() => woken.push(3));
    stop();
    await vi.advanceTimersByTimeAsync(0);
    expect(woken).toEqual([3]);
    s.wakeAll();
    await vi.advanceTimersByTimeAsync(0);
    expect(woken).toEqual([3, 1, 2]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
