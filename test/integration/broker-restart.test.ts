import { afterAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { killAllDaemons, runDaemon } from '../helpers/daemon-process.js';

// The embedded broker's retained messages survive kill -9 of the real daemon, and a Homie 5
// device's values are decoded after the restart from its retained $description alone (a
// device publishes it once at boot, not after every restart of edgeflux).

const fx = influxdPerFile();
afterAll(killAllDaemons);

const DESCRIPTION = JSON.stringify({
  homie: '5.0',
  version: 1,
  name: 'Hall sensor',
  nodes: { env: { properties: { temperature: { datatype: 'float', unit: '°C' } } } },
});

describe('embedded broker state across kill -9', () => {
  it("a Homie 5 device's retained $description is kept: its next value after the restart is stored, not dead-lettered", async () => {
    await fx.influx.createDatabase('homie');
    const port = await freePort();
    const config = join(fx.dir.path, 'homie.yaml');
    const deadLetters = join(fx.dir.path, 'dead.jsonl');
    await writeFile(
      config,
      `
broker: { host: 127.0.0.1, port: ${port} }
devices:
  - profile: homie5
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: homie, batch: { max_age: 100ms } }
spool: { dir: ./spool }
dead_letter: { path: ${deadLetters} }
log: { level: info }
service: { http: { port: 0 } }
`,
    );
    const first = await runDaemon(config);
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'hall', reconnectPeriod: 0 });
    await device.publishAsync('homie/5/hall/$description', DESCRIPTION, { qos: 1, retain: true });
    await device.publishAsync('homie/5/hall/env/temperature', '21.5', { qos: 1 });
    await waitFor(async () => (await fx.influx.count('homie', 'homie')) >= 1, 20_000, 'the first value in InfluxDB', 100);
    await device.endAsync(true);
    // A clean stop saves the journal cursors past the $description, so that the journal's
    // replay cannot be what teaches the decoder after the restarts below.
    first.child.kill('SIGTERM');
    await first.exited;
    const killed = await runDaemon(config);
    killed.child.kill('SIGKILL');
    await killed.exited;

    const second = await runDaemon(config);
    try {
      const again = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'hall', reconnectPeriod: 0 });
      await again.publishAsync('homie/5/hall/env/temperature', '22.5', { qos: 1 });
      await again.endAsync(true);
      await waitFor(async () => (await fx.influx.count('homie', 'homie')) >= 2, 20_000, 'the value after the restart in InfluxDB', 100);
      const dead = await readFile(deadLetters, 'utf8').catch(() => '');
      expect(dead).not.toMatch(/missing_schema/);
      expect(second.log()).toMatch(/1 retained messages kept from the last run/);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
