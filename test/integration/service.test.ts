/**
 * The service pieces together, as the daemon will drive them: a real Output writing to a
 * real influxd through an instrumented writer, /healthz and /metrics on a real HTTP
 * listener, edgeflux_internal points, and systemd notifications on a real datagram socket.
 * /healthz turns 503 while influxd is stopped and 200 once it is back; /metrics counts
 * exactly what was written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceSchema } from '../../src/config/schema-service.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { instrumentWriter } from '../../src/sink/instrument-writer.js';
import { Service, type ServiceHost } from '../../src/observe/service.js';
import { Output } from '../../src/sink/output.js';
import { createWriter } from '../../src/sink/influx-writer.js';
import type { Reading } from '../../src/types.js';
import { configFrom } from '../helpers/daemon.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { notifySocket, type NotifySocket } from '../helpers/notify-socket.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { LineBatch } from '../../src/sink/line-batch.js';

describe('Service with a real influxd, HTTP listener and notify socket', () => {
  let influxd: Influxd;
  let sock: NotifySocket;
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    [influxd, sock, dir] = await Promise.all([startInfluxd(), notifySocket(), tempDir()]);
    await influxd.createDatabase('sensors');
  });
  afterAll(async () => {
    await Promise.all([influxd?.stop(), sock?.close(), dir?.cleanup()]);
  });

  it('healthz follows the output, metrics count what was written, internal points flow, notifications arrive in order', async () => {
    const config = await configFrom(
      `broker: { port: 0 }
rules: [{ topic: "s/{device}/{measurement}", format: json }]
outputs: [{ id: local, type: influxdb_v1, url: "${influxd.url}", database: sensors, timeout: 2s, retry: { initial: 50ms, max: 200ms } }]
`,
      dir.path,
    );
    const counters = new Counters();
    const logger = silentLogger();
    const emitted: Reading[] = [];
    const ref: { output?: Output } = {}; // created below, once the service's metrics exist
    let downSince: number | undefined;
    const startedAt = Date.now();
    const host: ServiceHost = {
      healthFacts: () => {
        const st = ref.output!.status;
        if (st.state === 'up') downSince = undefined;
        else downSince ??= st.lastErrorAt ?? Date.now();
        return {
          startedAt,
          lastMessageAt: Date.now(),
          outputs: [{ id: 'local', state: st.state, lastError: st.lastError, lastSuccessAt: st.lastSuccessAt, downSince }],
        };
      },
      outputs: () => [{ id: 'local', up: ref.output!.status.state === 'up', backlog: 0 }],
      emitReadings: (rs) => void emitted.push(...rs),
    };
    const service = new Service({
      config: serviceSchema.parse({
        http: { port: 0 },
        health: { output_down_after: 0, no_data_after: '1h' },
        internal_metrics: { interval: '1s', idle_interval: '1s' },
      }),
      logger,
      counters,
      host,
      version: 'test',
      env: { NOTIFY_SOCKET: sock.address, WATCHDOG_USEC: '1000000' },
    });
    const output = (ref.output = new Output({
      config: config.outputs[0]!,
      writer: instrumentWriter(createWriter(config.outputs[0]!), 'local', service.metrics),
      logger,
      counters,
      deadLetter: { record: () => undefined },
    }));

    await service.checkClock();
    await service.start();
    await service.ready();
    const url = service.healthUrl!;
    const lines = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => `climate,device=th${i % 5} temperature=${from + i} ${1_700_000_000_000_000_000n + BigInt(from + i)}`);
    const health = async () => {
      const r = await fetch(`${url}/healthz`);
      return { status: r.status, body: (await r.json()) as { reasons: { check: string }[] } };
    };
    const written = async () => parsePrometheus(await (await fetch(`${url}/metrics`)).text()).get('edgeflux_points_written_total{output="local"}');

    expect(await output.write(LineBatch.of(lines(0, 100)))).toBe('settled');
    expect((await health()).status).toBe(200);
    expect(await written()).toBe(100);

    await influxd.pause();
    const during = output.write(LineBatch.of(lines(100, 10)));
    const down = await waitFor(async () => ((await health()).status === 503 ? health() : undefined), 30_000, '/healthz to turn 503');
    expect(down.body.reasons.map((r) => r.check)).toContain('output_unreachable');
    await influxd.resume();
    expect(await during).toBe('settled');
    await waitFor(async () => (await health()).status === 200, 30_000, '/healthz to turn 200 again');

    const samples = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    expect(samples.get('edgeflux_points_written_total{output="local"}')).toBe(110);
    expect(await influxd.count('sensors', 'climate')).toBe(110);
    expect(samples.get('edgeflux_write_duration_seconds_count{outcome="ok",output="local"}')).toBe(2);
    expect(samples.get('edgeflux_write_duration_seconds_count{outcome="error",output="local"}')).toBeGreaterThanOrEqual(1);
    expect(samples.get('edgeflux_write_retries_total{kind="retryable",output="local"}')).toBeGreaterThanOrEqual(1);

    await waitFor(
      () => emitted.some((r) => r.tags.kind === 'output' && r.fields.points_written === 110n),
      10_000,
      'an edgeflux_internal point with 110 written',
    );

    await service.stopping();
    output.close();
    await service.stop();
    await sock.until((m) => m.some((x) => x.startsWith('STOPPING=1')));
    const seq = sock.messages.filter((m) => m !== 'BARRIER=1').map((m) => m.split('\n')[0]);
    expect(seq[0]).toBe('READY=1');
    expect(seq.at(-1)).toBe('STOPPING=1');
    expect(seq.filter((l) => l === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(1);
    const status = sock.messages.find((m) => /STATUS=in [\d.]+ msg\/s/.test(m));
    expect(status).toBeDefined();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
