import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Counters } from '../../src/observe/counters.js';
import { SourceSupervisor } from '../../src/sources/supervisor.js';
import type { RawMessage } from '../../src/types.js';
import { FlakySource } from '../helpers/flaky-source.js';

const logger = pino({ level: 'silent' });
afterEach(() => vi.useRealTimers());

describe('SourceSupervisor', () => {
  it("a failing source's error ends only that source; it is counted, shown failed, and restarted with backoff", async () => {
    vi.useFakeTimers();
    const counters = new Counters();
    const got: string[] = [];
    const onMessage = (m: RawMessage): void => void got.push(`${m.sourceId}:${m.topic}`);
    const a = new FlakySource('a');
    const b = new FlakySource('b');
    const sa = new SourceSupervisor({ source: a, onMessage, logger, counters, initialMs: 1000, maxMs: 8000, random: () => 1 });
    const sb = new SourceSupervisor({ source: b, onMessage, logger, counters, initialMs: 1000, maxMs: 8000, random: () => 1 });
    await Promise.all([sa.start(), sb.start()]);

    b.fail(new Error('parser bug'));
    a.emit('t/1', '1');
    b.emit('t/lost', '1'); // nobody listens to b until its restart
    expect(got).toEqual(['a:t/1']);
    expect(sb.state).toMatchObject({ state: 'failed', failures: 1, lastError: 'parser bug' });
    expect(sa.state).toMatchObject({ state: 'up', failures: 0 });
    expect(counters.get('source_failures', { source: 'b' })).toBe(1);

    await vi.advanceTimersByTimeAsync(999);
    expect(b.starts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.starts).toBe(2);
    expect(sb.state).toMatchObject({ state: 'up', failures: 1 });
    b.emit('t/2', '2');
    expect(got).toEqual(['a:t/1', 'b:t/2']);

    // Failing again soon: the next delay doubles (2 s), then 4 s.
    b.fail();
    await vi.advanceTimersByTimeAsync(1999);
    expect(b.starts).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.starts).toBe(3);
    b.fail();
    await vi.advanceTimersByTimeAsync(4000);
    expect(b.starts).toBe(4);
    expect(counters.get('source_failures', { source: 'b' })).toBe(3);

    // A long healthy run starts the backoff over.
    await vi.advanceTimersByTimeAsync(60_000);
    b.fail();
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.starts).toBe(5);

    // A stream that ends while the source should run is a failure too.
    await b.stop();
    expect(sb.state.state).toBe('failed');

    await Promise.all([sa.stop(), sb.stop()]);
    expect(vi.getTimerCount()).toBe(0);
    expect(sb.state.state).toBe('closed');
  });

  it("a source that cannot start rejects the first start() (the daemon's start fails); a restart that cannot start is retried", async () => {
    vi.useFakeTimers();
    const counters = new Counters();
    const b = new FlakySource('b');
    const start = b.start.bind(b);
    let refuse = true;
    b.start = async () => {
      await start();
      if (refuse) throw new Error('EADDRINUSE');
    };
    const sb = new SourceSupervisor({ source: b, onMessage: () => undefined, logger, counters, random: () => 1 });
    await expect(sb.start()).rejects.toThrow('EADDRINUSE');
    expect(vi.getTimerCount()).toBe(0);
    refuse = false;
    await sb.start();
    refuse = true;
    b.fail();
    await vi.advanceTimersByTimeAsync(1000); // restart refused: failed again, next in 2 s
    expect(sb.state).toMatchObject({ state: 'failed', failures: 2, lastError: 'EADDRINUSE' });
    refuse = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(sb.state).toMatchObject({ state: 'up', failures: 2 });
    await sb.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() during the backoff cancels the restart; a stop is not a failure', async () => {
    vi.useFakeTimers();
    const counters = new Counters();
    const b = new FlakySource('b');
    const sb = new SourceSupervisor({ source: b, onMessage: () => undefined, logger, counters });
    await sb.start();
    await sb.stop();
    expect(counters.get('source_failures', { source: 'b' })).toBe(0);
    await sb.start();
    b.fail();
    await sb.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(b.starts).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("the first start's failure is thrown, not retried (the daemon fails to start and says why)", async () => {
    vi.useFakeTimers();
    const counters = new Counters();
    const b = new FlakySource('b');
    b.failNextStart = new Error('listen EADDRINUSE: address already in use 127.0.0.1:1883');
    const sb = new SourceSupervisor({ source: b, onMessage: () => undefined, logger, counters });
    await expect(sb.start()).rejects.toThrow('EADDRINUSE');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(b.starts).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(sb.state.state).not.toBe('failed');
  });

  it('a later start that fails is retried with backoff like any other failure', async () => {
    vi.useFakeTimers();
    const counters = new Counters();
    const b = new FlakySource('b');
    const sb = new SourceSupervisor({ source: b, onMessage: () => undefined, logger, counters, random: () => 0.5 });
    await sb.start();
    b.failNextStart = new Error('listen EADDRINUSE');
    b.fail();
    expect(sb.state.state).toBe('failed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(b.starts).toBeGreaterThanOrEqual(3); // the failed restart, then one that works
    expect(sb.state.state).toBe('up');
    expect(counters.get('source_failures', { source: 'b' })).toBe(2);
    await sb.stop();
  });
});
