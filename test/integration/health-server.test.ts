import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters } from '../../src/observe/counters.js';
import type { HealthFacts } from '../../src/observe/health.js';
import { HealthServer } from '../../src/observe/health-server.js';
import { silentLogger } from '../../src/observe/logger.js';
import { Metrics } from '../../src/observe/metrics.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/net.js';

const T = { noDataAfterMs: 60_000, outputDownAfterMs: 0, spoolNearQuota: 0.9 };

/** Sends raw bytes, resolves what the server answered before closing (or after `ms`). */
function raw(port: number, text: string, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    const t = setTimeout(() => (s.destroy(), resolve(got)), ms);
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => (clearTimeout(t), resolve(got)));
    s.on('error', (e) => (clearTimeout(t), reject(e)));
  });
}

describe('HealthServer (real HTTP on 127.0.0.1, port 0)', () => {
  let server: HealthServer | undefined;
  let metrics: Metrics | undefined;
  afterEach(async () => {
    await server?.stop();
    metrics?.stop();
    server = metrics = undefined;
  });

  async function start(facts: () => HealthFacts | Promise<HealthFacts>, extra: Partial<ConstructorParameters<typeof HealthServer>[0]> = {}) {
    server = new HealthServer({ host: '127.0.0.1', port: 0, health: { healthFacts: facts }, thresholds: T, logger: silentLogger(), ...extra });
    await server.start();
    return server;
  }

  it('/healthz: 200 with JSON while healthy, 503 with the reasons when not', async () => {
    let outputState: 'up' | 'down' = 'up';
    const s = await start(() => ({
      startedAt: Date.now() - 1000,
      lastMessageAt: Date.now(),
      outputs: [{ id: 'local', state: outputState, lastError: 'connect ECONNREFUSED' }],
    }));
    expect(s.port).toBeGreaterThan(0);
    let res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ status: 'ok', reasons: [], outputs: [{ id: 'local', state: 'up' }] });
    outputState = 'down';
    res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; reasons: { check: string; message: string }[] };
    expect(body.status).toBe('unhealthy');
    expect(body.reasons[0]).toMatchObject({ check: 'output_unreachable', message: expect.stringContaining('ECONNREFUSED') });
    const head = await fetch(`${s.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe('');
  });

  it('/metrics: Prometheus text with the counters as counted', async () => {
    const counters = new Counters();
    counters.inc('messages_received', { source: 'broker' }, 123);
    metrics = new Metrics({ counters });
    metrics.start();
    const s = await start(() => ({ startedAt: Date.now(), outputs: [] }), { metrics });
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(await res.text());
    expect(samples.get('edgeflux_messages_received_total{source="broker"}')).toBe(123);
  });

  it('a daemon that does not answer in time (or throws) makes /healthz 503, not a hang', async () => {
    let mode: 'hang' | 'throw' = 'hang';
    const s = await start(
      () =>
        mode === 'hang'
          ? new Promise<HealthFacts>(() => undefined)
          : (() => {
              throw new Error('boom');
            })(),
      { requestTimeoutMs: 400 },
    );
    const t0 = Date.now();
    let res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(((await res.json()) as { reasons: { check: string; message: string }[] }).reasons[0]).toMatchObject({
      check: 'health_unavailable',
      message: expect.stringMatching(/took longer than 200 ms/),
    });
    mode = 'throw';
    res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/boom/);
  });

  it('refuses other methods, bodies, unknown paths and oversized headers; no /metrics without metrics', async () => {
    const s = await start(() => ({ startedAt: Date.now(), lastMessageAt: Date.now(), outputs: [] }));
    expect((await fetch(`${s.url}/healthz`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    expect((await fetch(`${s.url}/metrics`)).status).toBe(404);
    expect(await raw(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(s.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
  });

  it('a client that never finishes its request is cut off at the request timeout', async () => {
    const s = await start(() => ({ startedAt: Date.now(), outputs: [] }), { requestTimeoutMs: 300 });
    const t0 = Date.now();
    const answer = await raw(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 10_000); // headers never end
    expect(Date.now() - t0).toBeLessThan(9000); // closed by the server, not by our 10 s give-up
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer)).toBe(true);
  });

  it('stop() closes the listener and open keep-alive connections', async () => {
    const s = await start(() => ({ startedAt: Date.now(), lastMessageAt: Date.now(), outputs: [] }));
    const port = s.port;
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const closed = new Promise((r) => sock.once('close', r));
    await s.stop();
    server = undefined;
    await closed;
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('fails to start on a port in use, with the error', async () => {
    const first = await start(() => ({ startedAt: 0, outputs: [] }));
    const second = new HealthServer({
      host: '127.0.0.1',
      port: first.port,
      health: { healthFacts: () => ({ startedAt: 0, outputs: [] }) },
      logger: silentLogger(),
    });
    await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
    await second.stop();
  });

  it('the status page: / and its files, /events streams snapshots; a view beyond max_clients is refused', async () => {
    const { DeviceTable } = await import('../../src/observe/device-table.js');
    const { BadInputLog } = await import('../../src/observe/bad-input.js');
    const s = await start(() => ({ startedAt: Date.now(), outputs: [] }), {
      status: { counters: new Counters(), devices: new DeviceTable(), bad: new BadInputLog(), facts: () => ({ outputs: [] }), maxClients: 2, intervalMs: 100 },
    });
    const page = await fetch(`${s.url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<script type="module" src="app.js">');
    expect((await fetch(`${s.url}/app.js`)).status).toBe(200);
    const streams = [new AbortController(), new AbortController()];
    try {
      const open = await Promise.all(streams.map((c) => fetch(`${s.url}/events`, { signal: c.signal })));
      expect(open.map((r) => r.headers.get('content-type'))).toEqual(['text/event-stream', 'text/event-stream']);
      const reader = open[0]!.body!.getReader();
      let text = '';
      while ((text.match(/\n\n/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
      expect(JSON.parse(text.split('\n\n')[0]!.replace(/^data: /, ''))).toMatchObject({ health: { status: 'ok' }, devices: { total: 0, rows: [] } });
      const third = await fetch(`${s.url}/events`);
      expect(third.status).toBe(503);
      expect(s.feed?.clients).toBe(2);
    } finally {
      for (const c of streams) c.abort();
    }
    await waitFor(() => s.feed?.clients === 0, 5000, 'the feed client gone');
  });
});

describe('HealthServer: the status page feed and login (real HTTP on 127.0.0.1, port 0)', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('a snapshot: values with their profile units, a device that said offline, each output behind in messages and seconds, the oldest unwritten message in the spool', async () => {
    const { DeviceTable } = await import('../../src/observe/device-table.js');
    const { BadInputLog } = await import('../../src/observe/bad-input.js');
    const now = Date.now();
    const devices = new DeviceTable('device', 100, (source, topic) =>
      source === 'broker' && topic.startsWith('tele/') ? { temperature: '°C', power: 'W', relay: 'x' } : undefined,
    );
    devices.observe(
      [{ measurement: 'tasmota', tags: { device: 'plug1' }, fields: { temperature: 21.5, power: 40, relay: 'ON' }, time: 0n }],
      'broker',
      now,
      'tele/plug1/SENSOR',
    );
    devices.observe(
      [{ measurement: 'device_status', tags: { device: 'plug1', profile: 'tasmota' }, fields: { state: 'offline', online: false }, time: 0n }],
      'broker',
      now,
      'tele/plug1/LWT',
    );
    devices.observe([{ measurement: 'climate', tags: { device: 'th1' }, fields: { temperature: 20 }, time: 0n }], 'broker', now, 'sensors/th1');
    const arrived = new Map([
      [100, now - 90_000],
      [250, now - 5_000],
    ]); // seq → receivedAt (ms)
    server = new HealthServer({
      host: '127.0.0.1',
      port: 0,
      health: { healthFacts: () => ({ startedAt: now, outputs: [] }) },
      thresholds: T,
      logger: silentLogger(),
      status: {
        counters: new Counters(),
        devices,
        bad: new BadInputLog(),
        facts: () => ({
          outputs: [
            { id: 'slow', state: 'down', behind: 200, cursor: 100 },
            { id: 'fast', state: 'up', behind: 50, cursor: 250 },
            { id: 'done', state: 'up', behind: 0, cursor: 300 },
          ],
          spool: { mode: 'durable', bytes: 1000, maxBytes: 10_000, dropped: 0, holding: 0 },
        }),
        receivedAt: async (seq) => arrived.get(seq),
        intervalMs: 100,
      },
    });
    await server.start();
    const ctl = new AbortController();
    try {
      const res = await fetch(`${server.url}/events?sort=device`, { signal: ctl.signal });
      const reader = res.body!.getReader();
      let text = '';
      while ((text.match(/\n\n/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
      const snap = JSON.parse(text.split('\n\n')[1]!.replace(/^data: /, '')) as {
        devices: { rows: { device: string; state: string; values: string }[] };
        outputs: { id: string; lag_s: number | null; behind: number }[];
        spool: { oldest_unwritten_s: number | null };
      };
      expect(snap.devices.rows).toMatchObject([
        { device: 'plug1', state: 'offline', values: 'temperature=21.5 °C power=40 W relay="ON"' },
        { device: 'th1', state: 'online', values: 'temperature=20' },
      ]);
      const lag = Object.fromEntries(snap.outputs.map((o) => [o.id, o.lag_s]));
      expect(lag.slow).toBeGreaterThanOrEqual(90);
      expect(lag.slow).toBeLessThan(100);
      expect(lag.fast).toBeGreaterThanOrEqual(5);
      expect(lag.fast).toBeLessThan(15);
      expect(lag.done).toBe(0);
      expect(snap.spool.oldest_unwritten_s).toBe(lag.slow);
    } finally {
      ctl.abort();
    }
    await waitFor(() => server?.feed?.clients === 0, 5000, 'the feed client gone');
  });

  it('the login form says "wrong user name or password" after a failed attempt, and not before', async () => {
    const { DeviceTable } = await import('../../src/observe/device-table.js');
    const { BadInputLog } = await import('../../src/observe/bad-input.js');
    server = new HealthServer({
      host: '127.0.0.1',
      port: 0,
      health: { healthFacts: () => ({ startedAt: Date.now(), outputs: [] }) },
      thresholds: T,
      logger: silentLogger(),
      status: { counters: new Counters(), devices: new DeviceTable(), bad: new BadInputLog(), facts: () => ({ outputs: [] }) },
      login: { verify: async (u, p) => u === 'ops' && p === 'pw', failurePauseMs: 0 },
    });
    await server.start();
    const notice = (html: string) => /<p id="failed"[^>]*>wrong user name or password<\/p>/.exec(html)?.[0];
    expect(notice(await (await fetch(`${server.url}/login`)).text())).toContain(' hidden>');
    const failed = await fetch(`${server.url}/login`, {
      method: 'POST',
      body: 'username=ops&password=nope',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    expect(failed.status).toBe(303);
    const again = await fetch(new URL(failed.headers.get('location')!, server.url));
    const shown = notice(await again.text());
    expect(shown).toBeDefined();
    expect(shown).not.toContain('hidden');
  });
});
