/**
 * What edgeflux itself writes to InfluxDB (edgeflux_internal, device_status), found by
 * running the code that writes it, not by listing names by hand: the dashboards' tests
 * check their queries against this.
 */
import { Counters } from '../../src/observe/counters.js';
import { internalReadings } from '../../src/observe/internal-metrics.js';
import { silentLogger } from '../../src/observe/logger.js';
import { Metrics } from '../../src/observe/metrics.js';
import { StaleDevices } from '../../src/observe/stale-devices.js';
import type { Reading } from '../../src/types.js';

export interface MeasurementSchema {
  readonly fields: Set<string>;
  readonly tags: Map<string, Set<string>>;
}

/** Readings of every kind edgeflux writes about itself, with every optional field present. */
export function selfReadings(timeNs: bigint = 1_700_000_000_000_000_000n): Reading[] {
  const counters = new Counters();
  for (const name of ['messages_received', 'messages_decoded'] as const) counters.inc(name, { source: 'broker' }, 10);
  counters.inc('messages_failed', { source: 'broker', reason: 'invalid_json' }, 1);
  for (const name of ['points_written', 'write_requests'] as const) counters.inc(name, { output: 'local' }, 10);
  counters.inc('write_retries', { output: 'local', kind: 'retryable' });
  counters.inc('points_dropped', { output: 'local', reason: 'memory_full' });
  counters.inc('messages_dropped', { output: 'local', reason: 'quota' });
  const metrics = new Metrics({
    counters,
    providers: {
      outputs: () => [{ id: 'local', up: true, backlog: 1 }],
      sources: () => [{ id: 'broker', up: true }],
      queueDepth: () => 0,
      spool: () => ({ bytes: 1, maxBytes: 2 }),
      devices: () => [{ device: 'th1', lastSeenMs: 0, stale: false, readings: 1 }],
      clockSynchronized: () => true,
    },
  });
  metrics.start();
  const prev = metrics.figures();
  metrics.observeWrite('local', 0.01, true);
  const internal = internalReadings(metrics.figures(), prev, { host: 'pi' }, timeNs);
  metrics.stop();

  const status: Reading[] = [];
  let now = 0;
  const devices = new StaleDevices({ logger: silentLogger(), onStatus: (r) => status.push(r), defaultIntervalMs: 1000, minSilenceMs: 1000, now: () => now });
  devices.seen('th1', now);
  now = 10_000;
  devices.check(); // stale
  devices.seen('th1', now); // back
  return [...internal, ...status.map((r) => ({ ...r, time: timeNs }))];
}

/** measurement → fields and tag values, from `selfReadings()`. */
export function selfSchema(): Map<string, MeasurementSchema> {
  const out = new Map<string, MeasurementSchema>();
  for (const r of selfReadings()) {
    let m = out.get(r.measurement);
    if (!m) out.set(r.measurement, (m = { fields: new Set(), tags: new Map() }));
    for (const f of Object.keys(r.fields)) m.fields.add(f);
    for (const [k, v] of Object.entries(r.tags)) {
      if (!m.tags.has(k)) m.tags.set(k, new Set());
      m.tags.get(k)!.add(v);
    }
  }
  return out;
}
