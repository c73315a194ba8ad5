import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settlesWithin, withTimeout } from '../../src/util/timeout.js';
import type { Timers } from '../../src/util/timers.js';

describe('util/timeout (virtual time)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('withTimeout passes the value on and frees its timer', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'x')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, 'x')).rejects.toThrow('boom');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('withTimeout rejects, naming what took too long, once the time is up and not before', async () => {
    const p = withTimeout(new Promise(() => undefined), 1000, 'journal: opening the cursor database');
    const seen = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(999);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(String(await seen)).toBe('Error: journal: opening the cursor database took longer than 1000 ms');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('settlesWithin says whether the promise settled (also by rejecting) in time', async () => {
    expect(await settlesWithin(Promise.reject(new Error('no')), 50)).toBe(true);
    let resolve!: () => void;
    const later = settlesWithin(new Promise<void>((r) => (resolve = r)), 100);
    await vi.advanceTimersByTimeAsync(60);
    resolve();
    expect(await later).toBe(true);
    const never = settlesWithin(new Promise(() => undefined), 100);
    await vi.advanceTimersByTimeAsync(100);
    expect(await never).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('both wait on injected timers when given, and free them after the race either way', async () => {
    const armed = new Set<unknown>();
    const timers: Timers = {
      setTimeout: (fn, ms) => {
        const h = setTimeout(() => {
          armed.delete(h);
          fn();
        }, ms);
        armed.add(h);
        return h;
      },
      clearTimeout: (h) => {
        armed.delete(h);
        clearTimeout(h as ReturnType<typeof setTimeout>);
      },
    };
    const never = settlesWithin(new Promise(() => undefined), 100, timers);
    expect(armed.size).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(await never).toBe(false);
    await expect(withTimeout(Promise.resolve(1), 100, 'x', timers)).resolves.toBe(1);
    await expect(settlesWithin(Promise.reject(new Error('no')), 100, timers)).resolves.toBe(true);
    expect(armed.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
