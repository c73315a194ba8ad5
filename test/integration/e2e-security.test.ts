import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFakeInfluxV2, type FakeInfluxV2 } from '../helpers/fake-influx-v2.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, startDaemon } from '../helpers/daemon.js';
import { hashPassword } from '../../src/util/passwords.js';

// The embedded broker's doors as configured in the YAML file, through the whole daemon;
// and no secret anywhere in what a full run with a wrong token logs or dead-letters.

const TOKEN = 'tok-9f8e7d6c5b4a-secret';
const SENSOR_PW = 'sensor-pw-314159';
let fake: FakeInfluxV2;
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  [fake, dir] = await Promise.all([startFakeInfluxV2({ token: 'a-different-token', org: 'home', buckets: ['b'] }), tempDir()]);
  await writeFile(join(dir.path, 'passwd'), `sensor1:${await hashPassword(SENSOR_PW, { logN: 10, r: 8, p: 1 })}\n`);
  await writeFile(join(dir.path, 'token'), `${TOKEN}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await fake?.close();
  await dir?.cleanup();
});

describe('a secured embedded broker, configured in YAML', () => {
  it('admits the right user where the ACL allows, refuses the rest, and never logs a secret', async () => {
    const yaml = `
broker:
  port: 0
  anonymous: never
  password_file: ./passwd
  acl:
    - { user: "*", publish: ["sensors/%u/#"] }
rules:
  - { topic: "sensors/{device}/{measurement}", format: json }
outputs:
  - id: cloud
    type: influxdb_v2
    url: ${fake.url}
    org: home
    bucket: b
    token_file: ./token
    batch: { max_age: 50ms }
    retry: { initial: 20ms, max: 100ms }
spool: { dir: ./spool }
dead_letter: { path: ./dead.jsonl }
`;
    const { daemon, log } = await startDaemon(yaml, dir.path);
    try {
      const url = `mqtt://127.0.0.1:${daemon.brokerPort}`;
      const opts = { reconnectPeriod: 0, connectTimeout: 5000 };
      await expect(mqtt.connectAsync(url, opts)).rejects.toThrow(/Not authorized/i);
      await expect(mqtt.connectAsync(url, { ...opts, username: 'sensor1', password: 'wrong-pw-271828' })).rejects.toThrow(/Bad username or password/i);
      await expect(mqtt.connectAsync(url, { ...opts, username: 'mallory', password: SENSOR_PW })).rejects.toThrow(/Bad username or password/i);

      const c = await mqtt.connectAsync(url, { ...opts, username: 'sensor1', password: SENSOR_PW });
      c.on('error', () => {});
      await publishAll(c, [{ topic: 'sensors/sensor1/air', payload: '{"co2":420}' }]);
      const gone = new Promise<void>((r) => c.once('close', () => r()));
      c.publish('sensors/other/air', '{"co2":1}', { qos: 1 });
      await gone;
      await c.endAsync(true);

      expect(daemon.counters.get('broker_refused', { reason: 'anonymous' })).toBe(1);
      expect(daemon.counters.get('broker_refused', { reason: 'bad_password' })).toBe(1);
      expect(daemon.counters.get('broker_refused', { reason: 'unknown_user' })).toBe(1);
      expect(daemon.counters.get('broker_refused', { reason: 'publish_denied' })).toBe(1);
      expect(daemon.counters.get('messages_received', { source: 'broker' })).toBe(1);
      // The output's token is wrong: InfluxDB answers 401; the reading waits in the journal.
      await waitFor(() => fake.requests.some((r) => r.status === 401), 10_000, 'a 401 from the fake');
      await waitFor(() => log.text().includes('401') || log.text().includes('unauthorized'), 10_000, 'the 401 logged');
    } finally {
      await daemon.stop();
    }
    const everything = [log.text(), await readFile(join(dir.path, 'dead.jsonl'), 'utf8').catch(() => '')].join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(SENSOR_PW);
    expect(everything).not.toContain('wrong-pw-271828');
    expect(fake.requests.every((r) => r.headers.authorization === `Token ${TOKEN}`)).toBe(true);
  });
});
