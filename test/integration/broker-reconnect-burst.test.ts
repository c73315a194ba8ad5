import { afterAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { killAllDaemons, runDaemon } from '../helpers/daemon-process.js';

// A device that arrives with a backlog: an mqtt.js client that kept publishing QoS 1 while
// edgeflux was away (not yet started, or killed with -9) and resends it all on reconnect.
// The embedded broker must drain it at its normal rate. With Nagle's algorithm on the
// accepted sockets the PUBACKs left in two segments, the second held for the client's
// delayed ACK, and the device got ~23 acks/s for good: 134 of 15,620 after 6 s.

const fx = influxdPerFile();
afterAll(killAllDaemons);

const RATE_PER_TICK = 20; // every 10 ms: 2,000 readings/s
/** How long a backlog of a few thousand readings may take to be acknowledged: ~0.5 s at the
 *  broker's normal rate, minutes at 23/s. Generous for a loaded 2-core CI machine. */
const DRAIN_MS = 15_000;

/** A device streaming numbered QoS 1 readings at 2,000/s, connected or not. */
function device(port: number) {
  const acked = new Set<number>();
  let sent = 0;
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 100, connectTimeout: 2000, clean: true });
  client.on('error', () => undefined); // refused while edgeflux is down: mqtt.js retries
  const base = Date.UTC(2024, 0, 1);
  let timer: NodeJS.Timeout | undefined;
  return {
    acked,
    get sent() {
      return sent;
    },
    start() {
      timer = setInterval(() => {
        for (let k = 0; k < RATE_PER_TICK; k++) {
          const i = sent++;
          client.publish('burst/d1/stream', JSON.stringify({ n: i, ts: base + i, v: 20 + (i % 1000) / 100 }), { qos: 1 }, (err) => {
            if (!err) acked.add(i);
          });
        }
      }, 10);
    },
    stop() {
      clearInterval(timer);
    },
    close: () => client.endAsync(true),
  };
}

describe('embedded broker: a device with a backlog after edgeflux (re)starts', () => {
  it('drains the backlog at the normal rate after the first start and after kill -9, and stores every acked reading', async () => {
    await fx.influx.createDatabase('burst');
    const port = await freePort();
    const config = join(fx.dir.path, 'burst.yaml');
    await writeFile(
      config,
      `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "burst/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms, integers: [n] }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: burst, batch: { max_age: 100ms } }
spool: { dir: ./spool }
service: { http: { port: 0 } }
`,
    );
    const dev = device(port);
    try {
      // 1. The device streams before edgeflux is there: its backlog grows while edgeflux starts.
      dev.start();
      await waitFor(() => dev.sent >= 2000, 10_000, 'a backlog of 2,000 readings');
      const first = await runDaemon(config);
      await waitFor(() => dev.acked.size >= 2000, DRAIN_MS, 'the first backlog acknowledged');
      // It keeps up with the stream afterwards.
      const mark = dev.sent + 2000;
      await waitFor(() => dev.acked.size >= mark, DRAIN_MS, 'keeping up with 2,000/s');

      // 2. kill -9 in the middle of the stream; the backlog builds while edgeflux is away.
      first.child.kill('SIGKILL');
      await first.exited;
      const atKill = dev.sent;
      await waitFor(() => dev.sent >= atKill + 2000, 10_000, 'a backlog while edgeflux is down');
      const second = await runDaemon(config);
      const target = dev.sent;
      await waitFor(() => dev.acked.size >= target, DRAIN_MS, 'the backlog after kill -9 acknowledged');

      dev.stop();
      const sent = dev.sent;
      await waitFor(() => dev.acked.size === sent, DRAIN_MS, 'every reading acknowledged');
      await waitFor(async () => (await fx.influx.count('burst', 'stream')) >= sent, 30_000, 'every reading in InfluxDB', 200);
      expect(await fx.influx.count('burst', 'stream')).toBe(sent);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      dev.stop();
      await dev.close();
    }
  }, 120_000);
});
