import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { serviceSchema } from '../../src/config/schema-service.js';
import { Counters } from '../../src/observe/counters.js';
import type { Logger } from '../../src/observe/logger.js';
import { silentLogger } from '../../src/observe/logger.js';
import { SUMMARY_EVERY_MS, Service, type ServiceHost } from '../../src/observe/service.js';
import type { Reading } from '../../src/types.js';

describe('Service on virtual time (no listener, no systemd)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2026, 2, 1));
  });
  afterEach(() => vi.useRealTimers());

  function make(extra: Record<string, unknown> = {}, logger: Logger = silentLogger()) {
    const emitted: Reading[] = [];
    const host: ServiceHost = { healthFacts: () => ({ startedAt: 0, outputs: [] }), emitReadings: (rs) => void emitted.push(...rs) };
    const config = serviceSchema.parse({
      http: { enabled: false },
      clock: { check: false },
      stale_devices: { min_silence: '10s', check_every: '1s' },
      internal_metrics: { interval: '5s', idle_interval: '5s' },
      ...extra,
    });
    const service = new Service({ config, logger, counters: new Counters(), host, env: {} });
    return { service, emitted, config };
  }

  it('routes device_status and edgeflux_internal points to the host, and frees every timer on stop', async () => {
    const { service, emitted } = make();
    await service.start();
    for (let i = 0; i < 5; i++) {
      service.observe([{ measurement: 'climate', tags: { device: 'th1' }, fields: { t: i }, time: 0n }]);
      await vi.advanceTimersByTimeAsync(2000);
    }
    await vi.advanceTimersByTimeAsync(15_000);
    const status = emitted.filter((r) => r.measurement === 'device_status');
    expect(status).toHaveLength(1);
    expect(status[0]!.fields.online).toBe(false);
    const internal = emitted.filter((r) => r.measurement === 'edgeflux_internal' && r.tags.kind === 'agent');
    expect(internal.length).toBeGreaterThanOrEqual(4);
    expect(internal.at(-1)!.fields).toMatchObject({ devices: 1n, devices_stale: 1n });
    expect(await service.metrics.render()).toMatch(/edgeflux_device_stale\{device="th1"\} 1/);
    await service.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reconfigure restarts the internal reporter with its new interval, and says what waits for a restart', async () => {
    const warn = vi.fn();
    const logger = { ...silentLogger(), warn, child: () => silentLogger() } as unknown as Logger;
    const { service, emitted, config } = make({}, logger);
    await service.start();
    await service.reconfigure({
      ...config,
      internal_metrics: { ...config.internal_metrics, interval: 1000, idle_interval: 1000 },
      stale_devices: { ...config.stale_devices, factor: 5 },
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(emitted.filter((r) => r.tags.kind === 'agent')).toHaveLength(3);
    expect(warn).toHaveBeenCalledWith({ sections: ['service.stale_devices'] }, 'these settings take effect at the next restart');
    await service.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('logs one throughput summary at info every few minutes, and nothing per reading', async () => {
    const info = vi.fn();
    const logger = { ...silentLogger(), info, child: () => silentLogger() } as unknown as Logger;
    const { service } = make({ internal_metrics: { enabled: false } }, logger);
    await service.start();
    for (let i = 0; i < 100; i++) service.observe([{ measurement: 'climate', tags: { device: 'th1' }, fields: { t: i }, time: 0n }]);
    await vi.advanceTimersByTimeAsync(SUMMARY_EVERY_MS * 2 + 1000);
    const summaries = info.mock.calls.filter((c) => String(c[0]).startsWith('summary: '));
    expect(summaries).toHaveLength(2);
    expect(String(summaries[0]![0])).toMatch(/^summary: in [\d.]+ msg\/s/);
    await service.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
