import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/observe/logger.js';
import { SdNotifier, parseNotifyEnvironment } from '../../src/observe/sd-notify.js';

describe('parseNotifyEnvironment', () => {
  it('is off without NOTIFY_SOCKET', () => {
    expect(parseNotifyEnvironment({}, 1)).toEqual({});
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: '' }, 1)).toEqual({});
  });
  it('takes paths and @abstract names, and pings at half WATCHDOG_USEC', () => {
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: '/run/systemd/notify' }, 1)).toEqual({ socket: '/run/systemd/notify' });
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '30000000' }, 1)).toEqual({ socket: '@x', watchdogPingMs: 15_000 });
  });
  it('leaves the watchdog to another process named by WATCHDOG_PID', () => {
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42' }, 7)).toEqual({ socket: '@x' });
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7' }, 7).watchdogPingMs).toBe(500);
  });
  it('names what is wrong with a bad value', () => {
    expect(parseNotifyEnvironment({ NOTIFY_SOCKET: 'relative' }, 1).problem).toMatch(/neither a path nor an @abstract/);
    const r = parseNotifyEnvironment({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: 'abc' }, 1);
    expect(r.socket).toBe('/s');
    expect(r.problem).toMatch(/WATCHDOG_USEC="abc"/);
  });
});

/** A transport whose sends complete only when the test says so. */
function slowTransport() {
  const sent: string[] = [];
  const pending: Array<() => void> = [];
  return {
    sent,
    pending,
    transport: () => ({
      send: (m: string) =>
        new Promise<void>((resolve) => {
          sent.push(m);
          pending.push(resolve);
        }),
    }),
    releaseAll: async () => {
      while (pending.length) {
        pending.shift()!();
        await vi.advanceTimersByTimeAsync(0);
      }
    },
  };
}

describe('SdNotifier on virtual time', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('does nothing at all without NOTIFY_SOCKET: no timer, no transport', async () => {
    const make = vi.fn();
    const n = new SdNotifier({ logger: silentLogger(), env: {}, transport: make, status: () => 'x' });
    n.start();
    expect(n.enabled).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await n.ready();
    await n.stopping();
    await n.stop();
    expect(make).not.toHaveBeenCalled();
  });

  it('pings WATCHDOG=1 every half WATCHDOG_USEC with the status text when it changed', async () => {
    const sent: string[] = [];
    let status = 'in 1.0 msg/s';
    const n = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '10000000' },
      transport: () => ({ send: async (m) => void sent.push(m) }),
      status: () => status,
      statusIntervalMs: 60_000,
    });
    n.start();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual(['WATCHDOG=1\nSTATUS=in 1.0 msg/s']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent[1]).toBe('WATCHDOG=1');
    status = 'in 2.0 msg/s';
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent[2]).toBe('WATCHDOG=1\nSTATUS=in 2.0 msg/s');
    await n.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('no WATCHDOG=1 after STOPPING=1, however long the shutdown takes (systemd stops the watchdog there)', async () => {
    const sent: string[] = [];
    const n = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '10000000' },
      transport: () => ({ send: async (m) => void sent.push(m) }),
    });
    n.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent).toEqual(['WATCHDOG=1']);
    await n.stopping();
    await vi.advanceTimersByTimeAsync(60_000); // a slow flush of the outputs
    expect(sent).toEqual(['WATCHDOG=1', 'STOPPING=1']);
    expect(vi.getTimerCount()).toBe(0);
    await n.stop();
  });

  it('without a watchdog, ticks only for status, at statusIntervalMs', async () => {
    const sent: string[] = [];
    let i = 0;
    const n = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: '/s' },
      transport: () => ({ send: async (m) => void sent.push(m) }),
      status: () => `s${++i}`,
      statusIntervalMs: 1000,
    });
    n.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(sent).toEqual(['STATUS=s1', 'STATUS=s2', 'STATUS=s3']);
    await n.stop();
  });

  it('sends one message at a time in call order; a waiting tick is replaced, lifecycle messages never are', async () => {
    const t = slowTransport();
    let i = 0;
    const n = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: '@s', WATCHDOG_USEC: '2000000' },
      transport: t.transport,
      status: () => `t${++i}`,
    });
    n.start();
    const ready = n.ready('up');
    await vi.advanceTimersByTimeAsync(5_000); // 5 ticks while READY is still being sent
    expect(t.sent).toEqual(['READY=1\nSTATUS=up']);
    const reloading = n.reloading();
    await t.releaseAll();
    await ready;
    await reloading;
    expect(t.sent).toHaveLength(3);
    expect(t.sent[1]).toBe('WATCHDOG=1\nSTATUS=t5'); // five ticks merged into one, newest status
    expect(t.sent[2]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    await n.stop();
  });

  it('RELOADING carries CLOCK_MONOTONIC in µs; EXTEND_TIMEOUT_USEC in µs', async () => {
    const sent: string[] = [];
    const n = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: '/s' },
      transport: () => ({ send: async (m) => void sent.push(m) }),
      monotonicUsec: () => 123_456_789n,
    });
    await n.reloading();
    await n.ready();
    await n.extendTimeout(90_000);
    await n.status('a\nb');
    expect(sent).toEqual(['RELOADING=1\nMONOTONIC_USEC=123456789', 'READY=1', 'EXTEND_TIMEOUT_USEC=90000000', 'STATUS=a b']);
  });

  it('a failing transport is logged (rate-limited) and never rejects', async () => {
    const warn = vi.fn();
    const logger = silentLogger();
    logger.warn = warn as unknown as typeof logger.warn;
    const n = new SdNotifier({ logger, env: { NOTIFY_SOCKET: '/s' }, transport: () => ({ send: async () => Promise.reject(new Error('boom')) }) });
    await expect(n.ready()).resolves.toBeUndefined();
    await expect(n.stopping()).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[1])).toMatch(/READY=1 failed: boom/);
  });

  it('stop() waits for STOPPING=1 to go out, but not longer than its timeout', async () => {
    const t = slowTransport();
    const n = new SdNotifier({ logger: silentLogger(), env: { NOTIFY_SOCKET: '/s' }, transport: t.transport });
    void n.stopping();
    let stopped = false;
    void n.stop(2000).then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(1999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(stopped).toBe(true);
    expect(t.sent).toEqual(['STOPPING=1']);
    await n.ready(); // after stop: not sent
    expect(t.sent).toHaveLength(1);
    await t.releaseAll();
    expect(vi.getTimerCount()).toBe(0);
  });
});
