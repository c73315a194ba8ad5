import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// Operators' dashboards and alerts query /metrics by name and label: this pins the names
// and label sets a daemon that has seen some traffic exposes (values are not pinned).

const fx = influxdPerFile();

/** Every edgeflux_* family's type and sample shape `name{label,names}` of a Prometheus text (sorted, values dropped). */
function shapes(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (edgeflux_\S+) (\S+)$/.exec(line);
    if (t) out.add(`${t[1]} ${t[2]}`);
    const m = /^(edgeflux_[a-zA-Z0-9_]*)(?:\{(.*)\})? /.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*(?==")/g) ?? [];
    out.add(`${m[1]}{${labels.sort().join(',')}}`);
  }
  return [...out].sort();
}

describe('/metrics exposition', () => {
  it('keeps its metric names and label sets', async () => {
    await fx.influx.createDatabase('expo');
    const yaml = `
broker: { port: 0 }
ignore: ["tele/+/STATE"]
rules:
  - { topic: "h/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: expo, batch: { max_age: 50ms }, timeout: 2s }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
service:
  http: { port: 0 }
`;
    const { daemon } = await startDaemon(yaml, fx.dir.path);
    try {
      const c = await publisher(daemon.brokerPort!);
      await publishAll(c, [
        ...Array.from({ length: 10 }, (_, i) => ({ topic: 'h/d1/env', payload: JSON.stringify({ t: i }) })),
        { topic: 'h/d1/env', payload: 'not json' },
        { topic: 'tele/plug/STATE', payload: '{}' },
      ]);
      await waitFor(async () => (await fx.influx.count('expo', 'env')) >= 10, 10_000, 'points stored');
      await waitFor(() => daemon.counters.total('points_written') >= 10, 5000, 'points counted');
      await c.endAsync();
      const r = await fetch(`${daemon.healthUrl!}/metrics`, { signal: AbortSignal.timeout(5000) });
      expect(shapes(await r.text())).toEqual([
        'edgeflux_clock_synchronized gauge',
        'edgeflux_clock_synchronized{}',
        'edgeflux_dead_letter_records_total counter',
        'edgeflux_dead_letter_records_total{reason}',
        'edgeflux_device_last_seen_timestamp_seconds gauge',
        'edgeflux_device_last_seen_timestamp_seconds{device}',
        'edgeflux_device_readings_total counter',
        'edgeflux_device_readings_total{device}',
        'edgeflux_device_stale gauge',
        'edgeflux_device_stale{device}',
        'edgeflux_event_loop_lag_max_seconds gauge',
        'edgeflux_event_loop_lag_max_seconds{}',
        'edgeflux_event_loop_lag_mean_seconds gauge',
        'edgeflux_event_loop_lag_mean_seconds{}',
        'edgeflux_event_loop_lag_p99_seconds gauge',
        'edgeflux_event_loop_lag_p99_seconds{}',
        'edgeflux_heap_used_bytes gauge',
        'edgeflux_heap_used_bytes{}',
        'edgeflux_journal_damaged_records_total counter',
        'edgeflux_journal_damaged_records_total{}',
        'edgeflux_messages_decoded_total counter',
        'edgeflux_messages_decoded_total{source}',
        'edgeflux_messages_failed_total counter',
        'edgeflux_messages_failed_total{reason,source}',
        'edgeflux_messages_ignored_total counter',
        'edgeflux_messages_ignored_total{source}',
        'edgeflux_messages_received_total counter',
        'edgeflux_messages_received_total{source}',
        'edgeflux_output_backlog_messages gauge',
        'edgeflux_output_backlog_messages{output}',
        'edgeflux_output_replay_lag_messages gauge',
        'edgeflux_output_replay_lag_messages{output}',
        'edgeflux_output_up gauge',
        'edgeflux_output_up{output}',
        'edgeflux_points_written_total counter',
        'edgeflux_points_written_total{output}',
        'edgeflux_queue_depth gauge',
        'edgeflux_queue_depth{}',
        'edgeflux_resident_memory_bytes gauge',
        'edgeflux_resident_memory_bytes{}',
        'edgeflux_source_up gauge',
        'edgeflux_source_up{source}',
        'edgeflux_spool_bytes gauge',
        'edgeflux_spool_bytes{}',
        'edgeflux_spool_max_bytes gauge',
        'edgeflux_spool_max_bytes{}',
        'edgeflux_up gauge',
        'edgeflux_uptime_seconds gauge',
        'edgeflux_uptime_seconds{}',
        'edgeflux_up{version}',
        'edgeflux_write_duration_seconds histogram',
        'edgeflux_write_duration_seconds_bucket{le,outcome,output}',
        'edgeflux_write_duration_seconds_count{outcome,output}',
        'edgeflux_write_duration_seconds_sum{outcome,output}',
        'edgeflux_write_requests_total counter',
        'edgeflux_write_requests_total{output}',
      ]);
    } finally {
      await daemon.stop();
    }
  });
});
