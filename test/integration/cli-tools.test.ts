import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { freePort, tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import mqtt from 'mqtt';
import { simulate, summaryLine } from '../../src/cli/simulate.js';
import { hashPassword } from '../../src/util/passwords.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { spoolStatusCommand } from '../../src/cli/spool-status.js';

// The operator tools against an in-process daemon (embedded broker) and a real influxd 1.6.7.

let influx: Influxd;
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  influx = await startInfluxd();
  dir = await tempDir();
});
afterAll(async () => {
  await influx?.stop();
  await dir?.cleanup();
});

function config(db: string, httpPort?: number, brokerPort = 0): string {
  return `
broker: { port: ${brokerPort} }
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
outputs:
  - id: local
    type: influxdb_v1
    url: ${influx.url}
    database: ${db}
    batch: { max_points: 5000, max_age: 200ms }
spool: { dir: ${join(dir.path, db + '-spool')} }
dead_letter: { path: ${join(dir.path, db + '-dead.jsonl')} }
${httpPort !== undefined ? `service: { http: { host: 127.0.0.1, port: ${httpPort} } }` : ''}
`;
}

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c.toString('utf8'));
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('edgeflux simulate', () => {
  it('publishes the asked count into the embedded broker; good ones become points, bad ones are counted', async () => {
    await influx.createDatabase('sim');
    const { daemon } = await startDaemon(config('sim'), dir.path);
    try {
      const s = await simulate({
        url: `mqtt://127.0.0.1:${daemon.brokerPort!}`,
        devices: 5,
        rate: 2000,
        count: 400,
        badRatio: 0.05,
        qos: 1,
        topic: 'sensors/{location}/{device}/climate',
      });
      expect(s.sent).toBe(400);
      expect(s.acked).toBe(400);
      expect(s.failed).toBe(0);
      expect(s.bad).toBeGreaterThan(0);
      const good = s.sent - s.bad;
      await waitFor(async () => (await influx.count('sim', 'climate')) >= good, 30_000, 'points in influxd', 200);
      expect(await influx.count('sim', 'climate')).toBe(good);
      await waitFor(() => daemon.counters.total('messages_failed') >= s.bad, 10_000, 'bad messages counted');
      expect(daemon.counters.total('messages_failed')).toBe(s.bad);
      const res = await influx.query('SELECT COUNT(temperature) FROM climate GROUP BY device', 'sim');
      expect(res.results[0].series).toHaveLength(5);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  }, 60_000);
});

describe('edgeflux simulate at QoS 0', () => {
  it('the last messages go out before the end (a subscriber of mosquitto gets every one), and nothing claims "acked"', async () => {
    const broker = await startMosquitto();
    const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      let received = 0;
      sub.on('message', () => received++);
      await sub.subscribeAsync('sensors/#', { qos: 0 });
      for (let run = 1; run <= 3; run++) {
        const s = await simulate({ url: broker.url, devices: 3, rate: 5000, count: 250, badRatio: 0, qos: 0, topic: 'sensors/{location}/{device}/climate' });
        expect(s.sent).toBe(250);
        await waitFor(() => received === 250 * run, 5_000, `all ${250 * run} messages at the subscriber (got ${received})`);
        expect(summaryLine(s, 0)).toBe('sent 250 (QoS 0: not confirmed by the broker), bad 0, failed 0');
      }
      expect(summaryLine({ sent: 5, acked: 5, bad: 1, failed: 0 }, 1)).toBe('sent 5, acked 5, bad 1, failed 0');
    } finally {
      await sub.endAsync(true);
      await broker.stop();
    }
  });
});

describe('edgeflux spool status', () => {
  it('prints the journal and every output of the running daemon', async () => {
    await influx.createDatabase('spool');
    const port = await freePort();
    const yaml = config('spool', port);
    const file = join(dir.path, 'spool.yaml');
    await writeFile(file, yaml);
    const { daemon } = await startDaemon(yaml, dir.path);
    try {
      const out = capture();
      const err = capture();
      expect(await spoolStatusCommand(file, out.stream, err.stream)).toBe(0);
      expect(out.text()).toMatch(/^spool: durable mode/m);
      expect(out.text()).toMatch(/^\s+local\s+up\s+\d+\s+0\s/m);
      expect(out.text()).toMatch(/dropped \(quota\): 0/);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  }, 60_000);

  it("shows an output's error while it is down, and no longer once it writes again", async () => {
    await influx.createDatabase('back');
    const port = await freePort();
    const yaml = config('back', port);
    const file = join(dir.path, 'back.yaml');
    await writeFile(file, yaml);
    const { daemon } = await startDaemon(yaml, dir.path);
    const status = async () => {
      const out = capture();
      expect(await spoolStatusCommand(file, out.stream, capture().stream)).toBe(0);
      return out.text();
    };
    try {
      await influx.pause();
      const pub = await publisher(daemon.brokerPort!);
      await publishAll(pub, [{ topic: 'sensors/a/b/climate', payload: '{"t":1}' }]);
      await waitFor(async () => /^\s+local\s+down\s+0\s+1\s+\S/m.test(await status()), 20_000, 'the output down, with its error');
      await influx.resume();
      await waitFor(async () => (await influx.count('back', 'climate')) === 1, 30_000, 'written after the outage');
      await publishAll(pub, [{ topic: 'sensors/a/b/climate', payload: '{"t":2}' }]);
      await pub.endAsync();
      await waitFor(async () => /^\s+local\s+up\s+2\s+0\s+-$/m.test(await status()), 20_000, 'the output up, its old error gone');
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  }, 90_000);

  it('needs no secrets: works from a shell without $CREDENTIALS_DIRECTORY', async () => {
    await influx.createDatabase('creds');
    const port = await freePort();
    const creds = join(dir.path, 'credentials');
    await mkdir(creds, { recursive: true });
    await writeFile(join(creds, 'influx-password'), 'secret\n', { mode: 0o600 });
    const yaml = config('creds', port).replace(
      'database: creds',
      'database: creds\n    username: edge\n    password_file: ${CREDENTIALS_DIRECTORY}/influx-password',
    );
    const file = join(dir.path, 'creds.yaml');
    await writeFile(file, yaml);
    const { daemon } = await startDaemon(yaml, dir.path, {}, { CREDENTIALS_DIRECTORY: creds }); // as systemd runs it
    expect(process.env.CREDENTIALS_DIRECTORY).toBeUndefined();
    try {
      const out = capture();
      const err = capture();
      expect(await spoolStatusCommand(file, out.stream, err.stream)).toBe(0);
      expect(err.text()).toBe('');
      expect(out.text()).toMatch(/^\s+local\s+up\s+\d+\s+0\s/m);
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  }, 60_000);

  it('says clearly when no daemon is running', async () => {
    const port = await freePort();
    const file = join(dir.path, 'down.yaml');
    await writeFile(file, config('down', port));
    const out = capture();
    const err = capture();
    expect(await spoolStatusCommand(file, out.stream, err.stream)).toBe(1);
    expect(err.text()).toMatch(/no daemon answers at http:\/\/127\.0\.0\.1:\d+\/spool .*is edgeflux running/);
    expect(out.text()).toBe('');
  });
});

describe('edgeflux tail', () => {
  it('prints the decoded readings and the bad messages published while it runs', async () => {
    await influx.createDatabase('tail');
    const brokerPort = await freePort();
    const yaml = config('tail', undefined, brokerPort);
    const file = join(dir.path, 'tail.yaml');
    await writeFile(file, yaml);
    const { daemon } = await startDaemon(yaml, dir.path);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'tail', '--config', file], {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => err.includes('subscribed to'), 30_000, 'tail subscribed');
      const pub = await publisher(brokerPort);
      await publishAll(pub, [
        { topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":21.5,"humidity":40}' },
        { topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":"warm"}' },
        { topic: 'sensors/cellar/th2/climate', payload: 'not json' },
      ]);
      await pub.endAsync();
      // The broker passes a message on once the daemon acknowledged it: a bad one (acked at
      // once) may overtake good ones (acked after their journal write). Wait for all three.
      await waitFor(() => /^! sensors\/cellar/m.test(out) && out.includes('field_type') && /^sensors\/kitchen/m.test(out), 15_000, 'tail output');
      expect(out).toMatch(/^sensors\/kitchen\/th1\/climate {2}climate,device=th1,location=kitchen temperature=21\.5,humidity=40 \d+$/m);
      expect(out).toMatch(/^! sensors\/cellar\/th2\/climate: \w+: .+$/m);
      // InfluxDB would reject it (the field was a float): shown as bad, not as a reading.
      expect(out).toContain(
        '! sensors/kitchen/th1/climate: field_type: field "temperature" is a string here but a float before (InfluxDB rejects a field whose type changes: field type conflict): climate,device=th1,location=kitchen temperature="warm"',
      );
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      expect(await daemon.stop()).toBe(true);
    }
  }, 60_000);

  it('--unmatched against a broker that wants a login (--username, --password-file): only what no rule or ignore entry covers', async () => {
    await influx.createDatabase('tailsec');
    const brokerPort = await freePort();
    const hash = await hashPassword('s3cret-tail');
    const yaml = config('tailsec', undefined, brokerPort).replace(
      `broker: { port: ${brokerPort} }`,
      `broker: { port: ${brokerPort}, anonymous: never, users: [{ username: op, password_hash: "${hash}" }] }\nignore: ["tele/+/STATE"]`,
    );
    const file = join(dir.path, 'tailsec.yaml');
    await writeFile(file, yaml);
    const pwFile = join(dir.path, 'op-password');
    await writeFile(pwFile, 's3cret-tail\n', { mode: 0o600 });
    const { daemon } = await startDaemon(yaml, dir.path);
    const tail = (args: string[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'tail', '--config', file, ...args], {
        cwd: join(import.meta.dirname, '../..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const io = { out: '', err: '', child, exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
      child.stdout.on('data', (c: Buffer) => (io.out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (io.err += c.toString('utf8')));
      return io;
    };
    const anonymous = tail(['--unmatched']);
    const t = tail(['--unmatched', '--username', 'op', '--password-file', pwFile]);
    try {
      expect(await anonymous.exited).toBe(1);
      expect(anonymous.err).toMatch(/cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*--username and --password-file/);
      await waitFor(() => t.err.includes('subscribed to #'), 30_000, 'tail subscribed');
      const pub = await publisher(brokerPort, { username: 'op', password: 's3cret-tail' });
      await publishAll(pub, [
        { topic: 'tele/plug1/STATE', payload: '{"POWER":"ON"}' },
        { topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":21.5}' },
        { topic: 'sensors/cellar/th2/climate', payload: 'not json' },
        { topic: 'zigbee2mqtt/bridge/state', payload: '{"state":"online"}' },
      ]);
      await pub.endAsync();
      await waitFor(() => t.out.includes('zigbee2mqtt/bridge/state'), 15_000, 'the unmatched message');
      expect(t.out).toBe('? zigbee2mqtt/bridge/state  {"state":"online"}\n');
      t.child.kill('SIGINT');
      expect(await t.exited).toBe(0);
    } finally {
      for (const c of [anonymous.child, t.child]) if (c.exitCode === null) c.kill('SIGKILL');
      expect(await daemon.stop()).toBe(true);
    }
  }, 60_000);
});
