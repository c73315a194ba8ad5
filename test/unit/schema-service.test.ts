import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_HTTP_PORT, serviceSchema } from '../../src/config/schema-service.js';

describe('the service: config section', () => {
  it('may be absent: every key has a default (loopback listener, 5 min no-data, 10 s internal points)', () => {
    const c = serviceSchema.parse(undefined);
    expect(c.http).toEqual({ enabled: true, host: '127.0.0.1', port: DEFAULT_HTTP_PORT, request_timeout: 5000, max_connections: 16, login: 'auto' });
    expect(c.health).toEqual({ no_data_after: 300_000, output_down_after: 60_000, spool_near_quota: 0.9 });
    expect(c.internal_metrics).toEqual({ enabled: true, interval: 10_000, idle_interval: 60_000, tags: {} });
    expect(c.stale_devices.factor).toBe(3);
    expect(c.clock.wait_for_sync).toBe(0);
    expect(c.notify.command).toBe('systemd-notify');
  });

  it('reads durations, ${ENV}-style strings for numbers and booleans, and per-device intervals', () => {
    const c = serviceSchema.parse({
      http: { port: '0', enabled: 'true' },
      health: { no_data_after: '0s', spool_near_quota: '0.75' },
      stale_devices: { intervals: { th1: '5m' } },
    });
    expect(c.http.port).toBe(0);
    expect(c.health.no_data_after).toBe(0);
    expect(c.health.spool_near_quota).toBe(0.75);
    expect(c.stale_devices.intervals).toEqual({ th1: 300_000 });
  });

  it('names every wrong key with its path', () => {
    const r = serviceSchema.safeParse({ http: { port: 70_000, hots: 'x' }, health: { spool_near_quota: 2 }, internal_metrics: { interval: '10ms' } });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => i.path.join('.')).sort();
    expect(issues).toEqual(['health.spool_near_quota', 'http', 'http.port', 'internal_metrics.interval']);
  });

  it("the Raspberry Pi example's service section is valid", () => {
    const example = parse(readFileSync(resolve(import.meta.dirname, '../../examples/raspberry-pi.yaml'), 'utf8')) as { service: unknown };
    const c = serviceSchema.parse(example.service);
    expect(c.clock.wait_for_sync).toBe(30_000);
    expect(c.http.host).toBe('127.0.0.1');
  });
});
