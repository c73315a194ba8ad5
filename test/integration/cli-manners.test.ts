import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, tempDir } from '../helpers/net.js';
import { COMMANDS, failure, UsageError } from '../../src/cli/usage.js';
import { bashCompletion } from '../../src/cli/completion.js';
import { EmbeddedBroker } from '../../src/sources/embedded-broker.js';
import { silentLogger } from '../../src/observe/logger.js';

// How the command line behaves when used wrongly: per-command help, one line and an exit
// code for every mistake (never a stack trace), a closed pipe, a port in use.

const run = promisify(execFile);
const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts')];

async function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...CLI, ...args], { timeout: 30_000, env: { ...process.env, EDGEFLUX_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const oneLine = (s: string) => {
  expect(s.trim().split('\n')).toHaveLength(1);
  expect(s).not.toMatch(/\n\s+at /);
};

describe('edgeflux <command> --help', () => {
  it("prints that command's usage, exit 0, for every command", async () => {
    const results = await Promise.all(Object.keys(COMMANDS).map((c) => cli([c, '--help'])));
    Object.keys(COMMANDS).forEach((c, i) => {
      const r = results[i]!;
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toBe(COMMANDS[c]!.usage);
      expect(r.stderr, c).toBe('');
    });
    expect(COMMANDS.simulate!.usage).toMatch(/--username USER/);
    expect(COMMANDS.simulate!.usage).toMatch(/--password PASSWORD/);
  }, 60_000);
});

describe('mistakes give one line and an exit code, no stack trace', () => {
  it.each([
    [['check', '--confg', 'x.yaml'], 2, 'edgeflux check: unknown option --confg (did you mean --config?); see edgeflux check --help'],
    [['simulate', '--devices', '0'], 2, 'edgeflux simulate: --devices must be a number of at least 1, got "0"; see edgeflux simulate --help'],
    [['simulate', '--qos', '2'], 2, 'edgeflux simulate: --qos must be a number from 0 to 1, got "2"; see edgeflux simulate --help'],
    [['tail', '--limt', '3'], 2, 'edgeflux tail: unknown option --limt (did you mean --limit?); see edgeflux tail --help'],
    [
      ['passwd', 'bad user', '--file', '/nonexistent/pw'],
      2,
      'edgeflux passwd: user name "bad user" may not contain ":" or white space; see edgeflux passwd --help',
    ],
    [['chek'], 2, 'edgeflux: unknown command "chek" (did you mean "check"?); see edgeflux --help'],
    [['run'], 2, 'edgeflux run: --config FILE is required (edgeflux run --config /etc/edgeflux/edgeflux.yaml); see edgeflux run --help'],
  ])('%j', async (args, code, line) => {
    const r = await cli(args);
    expect(r.code).toBe(code);
    oneLine(r.stderr);
    expect(r.stderr.trim()).toBe(line);
  });

  it('an empty password, on standard input', async () => {
    const dir = await tempDir();
    try {
      const r = await cli(['passwd', 'sensor', '--file', join(dir.path, 'pw')], '\n');
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('edgeflux passwd: the password is empty: use at least 8 characters; see edgeflux passwd --help');
      const none = await cli(['passwd', 'sensor', '--file', join(dir.path, 'pw')], '');
      expect(none.code).toBe(2);
      oneLine(none.stderr);
    } finally {
      await dir.cleanup();
    }
  });

  it('a runtime failure is one line with exit 1 (the stack only with EDGEFLUX_DEBUG=1)', () => {
    expect(failure(new Error('boom'), 'schema')).toEqual({ line: 'edgeflux schema: boom', code: 1 });
    expect(failure(new UsageError('bad'), 'nope')).toEqual({ line: 'edgeflux: bad; see edgeflux --help', code: 2 });
  });
});

describe('a closed pipe', () => {
  it('edgeflux schema | head: exit 0, nothing on stderr', async () => {
    const child = spawn(process.execPath, [...CLI, 'schema'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
    child.stdout.destroy(); // what `head` does after its lines
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(first.toString('utf8')).toMatch(/^\{/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('a port in use', () => {
  it('names the setting to change and says another edgeflux may be running, once', async () => {
    const busy = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'c.yaml');
      await writeFile(
        file,
        `broker: { port: 0 }\nrules:\n  - { topic: "s/{device}/{measurement}", format: json }\noutputs:\n  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:9", database: x }\nservice: { http: { port: ${port} } }\nspool: { dir: ./spool }\n`,
      );
      const r = await cli(['run', '--config', file]);
      expect(r.code).toBe(1);
      const all = r.stdout + r.stderr;
      expect(all.match(/already in use/g)).toHaveLength(1);
      expect(all).toContain(`port ${port} on 127.0.0.1 is already in use (service.http.port, health and metrics): another edgeflux may be running`);
      expect(all).not.toMatch(/\\n\s+at /);

      // The embedded broker's port (the MQTT default on a Pi that already runs mosquitto): the start fails the same way.
      const broker = join(dir.path, 'b.yaml');
      await writeFile(
        broker,
        `broker: { port: ${port} }\nrules:\n  - { topic: "s/{device}/{measurement}", format: json }\noutputs:\n  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:9", database: x }\nservice: { http: { enabled: false } }\nspool: { dir: ./spool2 }\n`,
      );
      const b = await cli(['run', '--config', broker]);
      expect(b.code).toBe(1);
      const both = b.stdout + b.stderr;
      expect(both.match(/"msg":"[^"]*already in use/g)).toHaveLength(1);
      expect(both).toContain('"code":"EFX_PORT_IN_USE"');
      expect(both).toContain(
        `"msg":"not started: port ${port} on 127.0.0.1 is already in use (broker.port, the embedded MQTT broker): another edgeflux may be running, or another MQTT broker such as mosquitto`,
      );
    } finally {
      busy.close();
      await dir.cleanup();
    }
  }, 60_000);
});

describe("the embedded broker's port in use (a Pi that already runs mosquitto)", () => {
  it('its start fails naming broker.port and what may hold the port', async () => {
    const busy = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
    const broker = new EmbeddedBroker({ id: 'broker', config: { host: '127.0.0.1', port }, logger: silentLogger() });
    try {
      await expect(broker.start()).rejects.toThrow(
        `embedded broker: port ${port} on 127.0.0.1 is already in use (broker.port): another edgeflux may be running, or another MQTT broker such as mosquitto (systemctl status mosquitto); set broker.port to a free port, or remove broker: and read from that broker with an mqtt: source`,
      );
      expect(broker.listening).toBe(false);
    } finally {
      await broker.stop();
      busy.close();
    }
  });
});

describe('edgeflux completion', () => {
  it('prints a bash script that completes commands and options', async () => {
    const script = bashCompletion();
    const { stdout } = await run('bash', [
      '-c',
      `${script}\nCOMP_WORDS=(edgeflux sim); COMP_CWORD=1; _edgeflux; echo "\${COMPREPLY[*]}"; COMP_WORDS=(edgeflux simulate --us); COMP_CWORD=2; _edgeflux; echo "\${COMPREPLY[*]}"`,
    ]);
    expect(stdout.split('\n').slice(0, 2)).toEqual(['simulate', '--username']);
    const r = await cli(['completion']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(script);
  });
});
