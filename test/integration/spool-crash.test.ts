import { afterAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { startAckedPublisher } from '../helpers/acked-publisher.js';
import { killAllDaemons, runDaemon } from '../helpers/daemon-process.js';

// kill -9 of the real daemon process at random moments during a QoS 1 stream, restarted
// each time: every reading the daemon acknowledged must end up in InfluxDB.

const KILLS = 20;

const fx = influxdPerFile();
afterAll(killAllDaemons);

describe('durable spool: kill -9', () => {
  it(`every acknowledged reading is in InfluxDB after ${KILLS} kill -9 at random moments`, async () => {
    await fx.influx.createDatabase('crash');
    const port = await freePort();
    const config = join(fx.dir.path, 'crash.yaml');
    await writeFile(
      config,
      `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "crash/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms, integers: [n] }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: crash, batch: { max_age: 100ms }, retry: { initial: 100ms, max: 1s } }
spool: { dir: ./spool }
log: { level: info }
service: { http: { port: 0 } }
`,
    );
    const base = Date.UTC(2024, 0, 1);
    const pub = startAckedPublisher({ port, window: 100, message: (i) => ({ topic: 'crash/d1/stream', payload: JSON.stringify({ n: i, ts: base + i }) }) });
    const started = Date.now();
    let log = '';
    let startMs = 0;
    try {
      for (let k = 0; k < KILLS; k++) {
        const t0 = Date.now();
        const d = await runDaemon(config);
        startMs += Date.now() - t0;
        const before = pub.acked.size;
        // A random moment, once the publisher is streaming into this instance.
        await waitFor(() => pub.acked.size > before, 10_000, 'acks from the new instance', 5);
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 300));
        d.child.kill('SIGKILL');
        await d.exited;
        log += d.log();
      }
      const last = await runDaemon(config);
      const target = pub.acked.size + 2000;
      await waitFor(() => pub.acked.size >= target, 20_000, 'the stream going on after the last restart');
      pub.pause();
      await waitFor(() => pub.inFlight === 0, 10_000, 'in-flight publishes acknowledged');
      const acked = [...pub.acked];
      await waitFor(async () => (await fx.influx.count('crash', 'stream')) >= acked.length, 30_000, 'acknowledged readings in InfluxDB', 200);

      const stored = new Set(await fx.influx.numbers('SELECT n FROM stream', 'crash'));
      const missing = acked.filter((i) => !stored.has(i));
      process.stderr.write(
        `spool kill -9: ${KILLS} kills in ${Date.now() - started} ms (start to ready ${Math.round(startMs / KILLS)} ms on average); ${pub.sent} published, ${acked.length} acknowledged, ${stored.size} distinct readings stored, ${missing.length} acknowledged missing\n`,
      );
      expect(missing).toEqual([]);
      expect(acked.length).toBeGreaterThan(KILLS * 50);
      // Nothing but what was published (each reading has its own event time: replays collapse).
      expect([...stored].every((n) => Number.isInteger(n) && n >= 0 && n < pub.sent)).toBe(true);
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0);
      expect(log).not.toMatch(/"level":(50|60)/); // no error or fatal line in any run
    } finally {
      await pub.close();
    }
  }, 120_000);
});
