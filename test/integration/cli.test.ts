import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { notifySocket } from '../helpers/notify-socket.js';

// The command line as a user runs it: a real process, real mosquitto_pub, real influxd.

const run = promisify(execFile);
const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts')];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [...CLI, ...args], { timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const fx = influxdPerFile();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('edgeflux check', () => {
  it('accepts the shipped example config', async () => {
    const r = await cli(['check', '--config', join(import.meta.dirname, '../../examples/edgeflux.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/edgeflux\.yaml: ok — sources: broker 127\.0\.0\.1:1883; rules: 3; outputs: local \(influxdb_v1\)/);
  });

  it('lists every error with file:line:column, key and code, exit 2', async () => {
    const file = join(fx.dir.path, 'bad.yaml');
    await writeFile(file, 'broker:\n  prot: 1883\nrules:\n  - topic: "a/{x"\n    format: json\noutputs: []\n');
    const r = await cli(['check', '--config', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.includes('bad.yaml'));
    expect(lines).toEqual([
      expect.stringMatching(/bad\.yaml:2:3 broker\.prot: unknown key "prot" \(did you mean "port"\?\) \[EFX_CONFIG_UNKNOWN_KEY\]$/),
      expect.stringMatching(/bad\.yaml:4:5 rules\[0\]\.topic: invalid topic template.* \[EFX_CONFIG_INVALID\]$/),
      expect.stringMatching(/bad\.yaml:6:1 outputs: at least one output is required \[EFX_CONFIG_INVALID\]$/),
      '3 errors in ' + file,
    ]);
  });

  it('an unreadable secret is a warning naming it ($CREDENTIALS_DIRECTORY is set only for the service); the rest is checked', async () => {
    const file = join(fx.dir.path, 'creds.yaml');
    const yaml = (extra = '') => `broker: { port: 11883 }
mqtt:
  - { id: site, url: "mqtt://127.0.0.1:1884", username: edge, password_file: "\${CREDENTIALS_DIRECTORY}/mqtt-password" }
rules: [{ topic: "t/{device}/{measurement}", format: json }]
outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: s, username: edge, password_file: ./no-such-file${extra} }
`;
    await writeFile(file, yaml());
    const ok = await cli(['check', '--config', file]);
    expect(ok.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^warning: .*creds\.yaml:3:\d+ mqtt\[0\]\.password_file: environment variable CREDENTIALS_DIRECTORY is not set/),
      expect.stringMatching(/^warning: .*creds\.yaml:6:\d+ outputs\[0\]\.password_file: cannot read ".*no-such-file": no such file/),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('creds.yaml: ok');

    await writeFile(file, yaml(', batch: { max_age: 1x }'));
    const bad = await cli(['check', '--config', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/outputs\[0\]\.batch\.max_age: /);
    expect(bad.stderr).toContain('1 error in');
  });

  it('usage errors exit 2', async () => {
    expect((await cli(['check'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
  });
});

describe('edgeflux run', () => {
  it('the quick start: mosquitto_pub → the point in InfluxDB; SIGTERM flushes and exits 0', async () => {
    await fx.influx.createDatabase('sensors');
    const port = await freePort();
    const file = join(fx.dir.path, 'run.yaml');
    await writeFile(
      file,
      `broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: sensors, batch: { max_age: 5s } }
dead_letter: { path: ./dead.jsonl }
service: { http: { port: 0 } }
`,
    );
    const child = spawn(process.execPath, [...CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('edgeflux started'), 20_000, 'edgeflux started');

    await run(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', 'sensors/kitchen/th1/climate', '-m', '{"temperature":21.5,"humidity":40}'],
      { timeout: 10_000 },
    );
    // The batch age is 5 s: the point is written by the flush on SIGTERM, not by the timer.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const csv = await fx.influx.queryCsv('SELECT temperature, humidity, device, location FROM climate', 'sensors');
    expect(csv.trim().split('\n')[1]).toMatch(/^climate,,\d+,21\.5,40,th1,kitchen$/);
    expect(out).toContain('every accepted reading was written');
    // Logs are JSON lines (no TTY).
    for (const l of out.trim().split('\n')) expect(() => JSON.parse(l) as unknown).not.toThrow();
  });

  it('children it starts (timedatectl) do not inherit NOTIFY_SOCKET; its own READY=1 reaches the socket', async () => {
    const sock = await notifySocket(false);
    const bin = join(fx.dir.path, 'bin');
    await mkdir(bin, { recursive: true });
    const seen = join(fx.dir.path, 'timedatectl.env');
    await writeFile(join(bin, 'timedatectl'), `#!/bin/sh\nenv > ${seen}\necho yes\n`, { mode: 0o755 });
    const file = join(fx.dir.path, 'notify.yaml');
    await writeFile(
      file,
      `broker: { host: 127.0.0.1, port: ${await freePort()} }
rules: [{ topic: "t/{device}/{measurement}", format: json }]
outputs: [{ id: local, type: influxdb_v1, url: "${fx.influx.url}", database: sensors }]
dead_letter: { path: ./dead-notify.jsonl }
spool: { dir: ./spool-notify }
service: { http: { port: 0 } }
`,
    );
    const child = spawn(process.execPath, [...CLI, 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: sock.address, PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await sock.until((m) => m.some((x) => x.startsWith('READY=1')), 20_000, 'READY=1');
      const env = await readFile(seen, 'utf8');
      expect(env).toContain('PATH=');
      expect(env).not.toContain('NOTIFY_SOCKET');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await sock.close();
    }
  });

  it('refuses to start on an invalid config, exit 2, naming the place', async () => {
    const file = join(fx.dir.path, 'invalid.yaml');
    await writeFile(file, 'broker: {}\nrules: []\noutputs: []\n');
    const r = await cli(['run', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid\.yaml:2:1 rules: at least one rule is required/);
    expect(r.stderr).toContain('not started');
  });
});
