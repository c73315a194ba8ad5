import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Counters } from '../../src/observe/counters.js';
import { INTERNAL_FIELDS, INTERNAL_MEASUREMENT, InternalMetricsReporter, internalReadings, latencyDelta } from '../../src/observe/internal-metrics.js';
import { Metrics, type MetricsProviders } from '../../src/observe/metrics.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import type { Reading } from '../../src/types.js';

function setup(providers: MetricsProviders = {}) {
  const counters = new Counters();
  const metrics = new Metrics({ counters, providers, now: () => 1_000 });
  metrics.start();
  return { counters, metrics };
}

describe('internalReadings', () => {
  it('writes one agent point, one per source and one per output, counts as integers', () => {
    const { counters, metrics } = setup({
      outputs: () => [{ id: 'local', up: true, backlog: 4 }],
      sources: () => [{ id: 'broker', up: true }],
      queueDepth: () => 2,
      spool: () => ({ bytes: 5000, maxBytes: 10_000 }),
      clockSynchronized: () => true,
    });
    counters.inc('messages_received', { source: 'broker' }, 10);
    counters.inc('messages_decoded', { source: 'broker' }, 8);
    counters.inc('messages_failed', { source: 'broker', reason: 'invalid_json' }, 2);
    counters.inc('messages_received', { source: 'site' }, 1); // a source known only from counters
    counters.inc('points_written', { output: 'local' }, 16);
    counters.inc('write_retries', { output: 'local', kind: 'retryable' }, 3);
    counters.inc('points_dropped', { output: 'local', reason: 'memory_full' }, 5);
    counters.inc('messages_dropped', { output: 'local', reason: 'quota' }, 6);
    counters.inc('readings_dropped', { reason: 'no_valid_field' }, 1);
    const rs = internalReadings(metrics.figures(), undefined, { host: 'pi' }, 42n);
    metrics.stop();

    expect(rs.map((r) => [r.measurement, r.tags])).toEqual([
      [INTERNAL_MEASUREMENT, { host: 'pi', kind: 'agent' }],
      [INTERNAL_MEASUREMENT, { host: 'pi', kind: 'source', source: 'broker' }],
      [INTERNAL_MEASUREMENT, { host: 'pi', kind: 'source', source: 'site' }],
      [INTERNAL_MEASUREMENT, { host: 'pi', kind: 'output', output: 'local' }],
    ]);
    expect(rs.every((r) => r.time === 42n)).toBe(true);
    const [agent, broker, site, local] = rs as [Reading, Reading, Reading, Reading];
    expect(agent.fields).toMatchObject({
      queue_points: 2n,
      spool_bytes: 5000n,
      spool_max_bytes: 10_000n,
      readings_dropped: 1n,
      clock_synchronized: true,
      devices: 0n,
    });
    expect(typeof agent.fields.rss_bytes).toBe('bigint');
    expect(typeof agent.fields.event_loop_lag_p99_ms).toBe('number');
    expect(broker.fields).toEqual({ messages_received: 10n, messages_decoded: 8n, messages_failed: 2n, up: true });
    expect(site.fields).toEqual({ messages_received: 1n, messages_decoded: 0n, messages_failed: 0n });
    expect(local.fields).toEqual({
      points_written: 16n,
      write_requests: 0n,
      write_retries: 3n,
      points_dropped: 5n,
      messages_dropped: 6n,
      backlog_messages: 4n,
      up: true,
    });
    // Every field is one of the documented ones, and each point encodes as line protocol.
    for (const r of rs) {
      const kind = r.tags.kind as keyof typeof INTERNAL_FIELDS;
      for (const f of Object.keys(r.fields)) expect(INTERNAL_FIELDS[kind] as readonly string[]).toContain(f);
      expect(encodeLine(r)).toMatch(/^edgeflux_internal,/);
    }
  });

  it('leaves out what is unknown instead of writing zeros', () => {
    const { metrics } = setup();
    const [agent] = internalReadings(metrics.figures(), undefined, {}, 1n);
    metrics.stop();
    expect(Object.keys(agent!.fields)).not.toContain('spool_bytes');
    expect(Object.keys(agent!.fields)).not.toContain('queue_points');
    expect(Object.keys(agent!.fields)).not.toContain('clock_synchronized');
  });

  it('reports write latency over the interval: mean and p95 from the histogram buckets', () => {
    const { metrics } = setup({ outputs: () => [{ id: 'o', up: true, backlog: 0 }] });
    for (let i = 0; i < 10; i++) metrics.observeWrite('o', 2, true); // slow, before the interval
    const prev = metrics.figures();
    for (let i = 0; i < 100; i++) metrics.observeWrite('o', 0.02, true); // all in (0.01, 0.025]
    const out = internalReadings(metrics.figures(), prev, {}, 1n).find((r) => r.tags.kind === 'output')!;
    metrics.stop();
    expect(out.fields.write_latency_mean_ms).toBeCloseTo(20, 6);
    expect(out.fields.write_latency_p95_ms).toBeCloseTo(10 + 15 * 0.95, 6);
    const idle = internalReadings(metrics.figures(), metrics.figures(), {}, 1n).find((r) => r.tags.kind === 'output')!;
    expect(idle.fields.write_latency_mean_ms).toBeUndefined();
  });

  it('latencyDelta: a p95 beyond the last bucket is its bound', () => {
    const buckets = Array(12).fill(0);
    expect(latencyDelta({ count: 1, sumSeconds: 100, buckets }, undefined)).toEqual({ mean: 100, p95: 30 });
    expect(latencyDelta(undefined, undefined)).toBeUndefined();
  });
});

describe('InternalMetricsReporter on virtual time', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('emits every interval with the host tag, and frees its timer on stop', async () => {
    const { counters, metrics } = setup();
    const batches: Reading[][] = [];
    const r = new InternalMetricsReporter({
      figures: () => metrics.figures(),
      sink: (b) => batches.push(b),
      intervalMs: 10_000,
      tags: { site: 'home' },
      timeNs: () => 7n,
    });
    r.start();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(batches).toHaveLength(0);
    counters.inc('messages_received', { source: 'b' }, 3);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toHaveLength(1);
    expect(batches[0]![0]!.tags).toMatchObject({ site: 'home', kind: 'agent' });
    expect(typeof batches[0]![0]!.tags.host).toBe('string');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(batches).toHaveLength(3);
    r.stop();
    metrics.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('while idle (only its own messages, outputs up) reports every idle interval; a message or a down output brings the interval back', async () => {
    let up = true;
    const { counters, metrics } = setup({ outputs: () => [{ id: 'local', up, backlog: 0 }] });
    const at: number[] = [];
    const r = new InternalMetricsReporter({
      figures: () => metrics.figures(),
      sink: () => void at.push(Date.now()),
      intervalMs: 10_000,
      idleIntervalMs: 60_000,
      selfSourceId: 'edgeflux',
    });
    vi.setSystemTime(0);
    r.start();
    counters.inc('messages_received', { source: 'edgeflux' }); // its own points do not count
    await vi.advanceTimersByTimeAsync(130_000);
    expect(at).toEqual([10_000, 70_000, 130_000]);
    counters.inc('messages_received', { source: 'broker' });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(at).toEqual([10_000, 70_000, 130_000, 140_000]); // active for one interval, then idle again
    up = false;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(at.slice(4)).toEqual([160_000, 170_000]);
    r.stop();
    metrics.stop();
  });

  it('a failing sink is logged, and the next interval still reports', async () => {
    const { metrics } = setup();
    const error = vi.fn();
    let calls = 0;
    const r = new InternalMetricsReporter({
      figures: () => metrics.figures(),
      sink: () => {
        if (++calls === 1) throw new Error('no route');
      },
      intervalMs: 1000,
      logger: { error } as never,
    });
    r.start();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toBe(2);
    expect(error).toHaveBeenCalledTimes(1);
    r.stop();
    metrics.stop();
  });
});
