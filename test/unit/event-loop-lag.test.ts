import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventLoopLag } from '../../src/observe/event-loop-lag.js';

afterEach(() => vi.useRealTimers());

describe('EventLoopLag', () => {
  it('with pauseWhenIdle, a window without touch() stops the sampling and its timer; touch() starts both again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const lag = new EventLoopLag({ windowMs: 10_000, pauseWhenIdle: true });
    lag.start();
    expect(vi.getTimerCount()).toBe(1);
    lag.touch();
    await vi.advanceTimersByTimeAsync(10_000); // a busy window: goes on
    expect(lag.idle).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000); // an idle one: stops
    expect(lag.idle).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    lag.touch();
    expect(lag.idle).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    lag.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('without pauseWhenIdle it samples on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const lag = new EventLoopLag({ windowMs: 10_000 });
    lag.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(lag.idle).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    lag.stop();
  });
});
