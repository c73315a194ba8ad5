import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../../src/util/backoff.js';
import { parseRetryAfter } from '../../src/sink/write-error.js';

const ALMOST_ONE = 0.999_999_9;

describe('backoffDelay (equal jitter: uniform in [ceiling/2, ceiling])', () => {
  it('draws uniformly in the upper half of a ceiling that doubles per attempt', () => {
    const opts = { initialMs: 100, maxMs: 10_000 };
    const ceilings = [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, { ...opts, random: () => ALMOST_ONE }));
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(backoffDelay(3, { ...opts, random: () => 0 })).toBe(400);
    expect(backoffDelay(3, { ...opts, random: () => 0.5 })).toBe(600);
  });

  it('is capped at maxMs, also for huge attempt numbers', () => {
    const opts = { initialMs: 100, maxMs: 5000, random: () => ALMOST_ONE };
    expect(backoffDelay(6, opts)).toBe(5000);
    expect(backoffDelay(10_000, opts)).toBe(5000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, opts)).toBe(5000);
  });

  it('stays within [ceiling/2, ceiling] for any random draw: never retries at once', () => {
    for (let i = 0; i < 1000; i++) {
      const n = Math.floor(Math.random() * 20);
      const d = backoffDelay(n, { initialMs: 250, maxMs: 60_000 });
      expect(d).toBeGreaterThanOrEqual(Math.min(60_000, 250 * 2 ** n) / 2);
      expect(d).toBeLessThanOrEqual(Math.min(60_000, 250 * 2 ** n));
    }
  });

  it('slow retries (30 s up to 2 min) wait at least 15 s', () => {
    const opts = { initialMs: 30_000, maxMs: 120_000 };
    expect(backoffDelay(0, { ...opts, random: () => 0 })).toBe(15_000);
    expect(backoffDelay(0, { ...opts, random: () => ALMOST_ONE })).toBe(30_000);
    expect(backoffDelay(9, { ...opts, random: () => 0 })).toBe(60_000);
  });

  it('waits at least as long as a Retry-After hint', () => {
    const opts = { initialMs: 100, maxMs: 1000, random: () => 0.5 };
    expect(backoffDelay(0, opts, 7000)).toBe(7000); // longer than maxMs: the server asked for it
    expect(backoffDelay(5, { ...opts, random: () => ALMOST_ONE }, 10)).toBe(1000); // a short hint does not shorten the backoff
    expect(backoffDelay(0, opts, 0)).toBe(75);
    expect(backoffDelay(0, opts, NaN)).toBe(75);
  });

  it('caps an absurd Retry-After', () => {
    expect(backoffDelay(0, { initialMs: 100, maxMs: 1000, random: () => 0 }, 86_400_000)).toBe(600_000);
    expect(backoffDelay(0, { initialMs: 100, maxMs: 1000, random: () => 0, retryAfterCapMs: 30_000 }, 86_400_000)).toBe(30_000);
  });
});

describe('Backoff', () => {
  it('counts attempts and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => ALMOST_ONE });
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    expect(b.attempt).toBe(3);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('passes the Retry-After hint through', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect(b.next(2500)).toBe(2500);
    expect(b.attempt).toBe(1);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2024, 0, 1, 12, 0, 0);

  it('reads delay-seconds as seconds (not ms, unlike the client’s retryAfter())', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });

  it('reads an HTTP date as the time left until then', () => {
    expect(parseRetryAfter('Mon, 01 Jan 2024 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Monday, 01-Jan-24 12:01:00 GMT', now)).toBe(60_000);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
