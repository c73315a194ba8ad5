import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageOutlet, RetryTimer } from '../../src/sources/source.js';
import { backoffDelay as delay } from '../../src/util/backoff.js';

const backoffDelay = (n: number, initialMs: number, maxMs: number, random?: () => number) => delay(n, { initialMs, maxMs, ...(random && { random }) });
import { mqttDebugWanted, redactUrl } from '../../src/sources/mqtt-options.js';
import type { RawMessage } from '../../src/types.js';

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, jitter spanning [d/2, d]', () => {
    const low = (n: number) => backoffDelay(n, 1000, 60_000, () => 0);
    const high = (n: number) => backoffDelay(n, 1000, 60_000, () => 1);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(high)).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect([0, 1, 2, 6, 50].map(low)).toEqual([500, 1000, 2000, 30_000, 30_000]);
  });

  it('stays within [d/2, d] for random jitter', () => {
    for (let n = 0; n < 12; n++) {
      const d = Math.min(60_000, 1000 * 2 ** n);
      for (let k = 0; k < 50; k++) {
        const v = backoffDelay(n, 1000, 60_000);
        expect(v).toBeGreaterThanOrEqual(d / 2);
        expect(v).toBeLessThanOrEqual(d);
      }
    }
  });
});

describe('RetryTimer (virtual time)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each attempt after its backoff delay, resets after success, and frees its timer on cancel', async () => {
    const r = new RetryTimer(100, 1000, () => 1);
    const fired: number[] = [];
    const fire = () => fired.push(Date.now());
    const t0 = Date.now();

    expect(r.schedule(fire)).toBe(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual([t0 + 100]);

    const delays = [r.schedule(fire)];
    await vi.advanceTimersByTimeAsync(200);
    for (let i = 0; i < 5; i++) {
      const d = r.schedule(fire);
      delays.push(d);
      await vi.advanceTimersByTimeAsync(d);
    }
    expect(delays).toEqual([200, 400, 800, 1000, 1000, 1000]);
    expect(fired.length).toBe(7);
    expect(r.attempts).toBe(7);

    r.reset();
    expect(r.schedule(fire)).toBe(100);
    expect(r.pending).toBe(true);
    r.cancel();
    expect(r.pending).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fired.length).toBe(7);
  });

  it('keeps one pending timer: scheduling again replaces it', async () => {
    const r = new RetryTimer(100, 1000, () => 0);
    let n = 0;
    r.schedule(() => n++);
    r.schedule(() => n++);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(n).toBe(1);
  });
});

describe('MessageOutlet', () => {
  const msg = (topic: string): RawMessage => ({ sourceId: 's', topic, payload: Buffer.alloc(0), receivedAt: 0n, ack: () => {} });

  it('holds messages while nobody subscribes and delivers them in order to the next subscriber', () => {
    const o = new MessageOutlet('s');
    o.push(msg('a'));
    o.push(msg('b'));
    expect(o.heldCount).toBe(2);
    const got: string[] = [];
    const sub = o.messages$.subscribe((m) => got.push(m.topic));
    o.push(msg('c'));
    expect(got).toEqual(['a', 'b', 'c']);
    sub.unsubscribe();
    o.push(msg('d'));
    expect(got).toEqual(['a', 'b', 'c']);
    o.messages$.subscribe((m) => got.push(m.topic));
    expect(got).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses a second subscriber and completes the current one on complete()', () => {
    const o = new MessageOutlet('s');
    let completed = false;
    o.messages$.subscribe({ complete: () => (completed = true) });
    let err: unknown;
    o.messages$.subscribe({ error: (e: unknown) => (err = e) });
    expect(String(err)).toMatch(/already has a subscriber/);
    o.complete();
    expect(completed).toBe(true);
    const got: string[] = [];
    o.messages$.subscribe((m) => got.push(m.topic));
    o.push(msg('after'));
    expect(got).toEqual(['after']);
  });
});

describe('redactUrl (what mqtt-source logs)', () => {
  it('hides a password in the URL and leaves other URLs alone', () => {
    expect(redactUrl('mqtt://user:pw@host:1883')).toBe('mqtt://user:[redacted]@host:1883');
    expect(redactUrl('wss://u:p%40w@h/mqtt')).toBe('wss://u:[redacted]@h/mqtt');
    expect(redactUrl('mqtt://u:p@w@h')).toBe('mqtt://u:[redacted]@h');
    expect(redactUrl('mqtts://host:8883')).toBe('mqtts://host:8883');
    expect(redactUrl('mqtt://user@host')).toBe('mqtt://user@host');
  });
});

describe('mqttDebugWanted (mqtt.js gets a no-op logger unless DEBUG names it)', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['express:*', false],
    ['notmqttjs', false],
    ['*', true],
    ['mqttjs*', true],
    ['mqttjs:client', true],
    ['express:*,mqttjs:*', true],
    ['foo mqttjs', true],
  ])('DEBUG=%s → %s', (value, wanted) => {
    expect(mqttDebugWanted(value === undefined ? {} : { DEBUG: value })).toBe(wanted);
  });
});
