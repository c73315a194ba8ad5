/**
 * The package as a user gets it: `npm pack` of a copy of the repo (with runtime data left
 * in examples/ and a stray source map in dist/, as after a Quick start), the packed file
 * list asserted entry by entry, then `npm i -g` into a temp prefix (quiet with the
 * documented --allow-scripts) and the installed commands run from there: --version,
 * `check` on both shipped examples, `devices list`, and the installer's plan.
 *
 * dist/ is made by the build's own bundle function (scripts/build.mjs, as `npm run build`)
 * in the staged copy, so that the shared dist/ is left alone; `npm pack` runs with
 * --ignore-scripts for the same reason (its prepack would build the repo's dist/).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../scripts/build.mjs';
import { spawn } from 'node:child_process';
import { freePort, tempDir, waitFor } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SHIPPED_DIRS = ['devices', 'status-page', 'systemd', 'schema', 'docs', 'grafana'];
const SHIPPED_FILES = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'examples/edgeflux.yaml', 'examples/raspberry-pi.yaml'];
/** The install scripts of the native dependencies (node-gyp-build: prebuilt, else compiled). */
const ALLOW_SCRIPTS = '--allow-scripts=classic-level,@serialport/bindings-cpp';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

let tmp: { path: string; cleanup: () => Promise<void> };
let stage: string;
let packed: { files: { path: string }[]; filename: string; version: string };
let prefix: string;
let installed: string;
let install: Run;
/** What the build put in dist/ (before the stray map below). */
let built: string[];

beforeAll(async () => {
  tmp = await tempDir('edgeflux-package-');
  stage = join(tmp.path, 'stage');
  for (const f of [...SHIPPED_FILES, ...SHIPPED_DIRS]) await cp(join(ROOT, f), join(stage, f), { recursive: true });
  await bundle({ src: join(ROOT, 'src'), outdir: join(stage, 'dist/cli') });
  built = (await filesUnder(join(stage, 'dist'))).map((p) => relative(stage, p));
  // What a Quick start leaves behind, and a stale map: none of it may ship.
  await mkdir(join(stage, 'examples/spool'), { recursive: true });
  await writeFile(join(stage, 'examples/spool/00000000.seg'), 'journal');
  await writeFile(join(stage, 'examples/edgeflux-dead-letter.jsonl'), '{"payload":"raw"}\n');
  await writeFile(join(stage, 'dist/daemon.js.map'), '{}');
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.path], { cwd: stage });
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;
  prefix = join(tmp.path, 'global');
  install = await run('npm', ['i', '-g', '--prefix', prefix, join(tmp.path, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', ALLOW_SCRIPTS], {
    timeout: 120_000,
  });
  if (install.code !== 0) throw new Error(`npm i -g failed: ${install.stderr}`);
  installed = join(prefix, 'lib/node_modules/edgeflux');
}, 150_000);

afterAll(async () => {
  await tmp?.cleanup();
});

describe('npm pack', () => {
  it('the build makes the two entry points and their chunks, nothing else', () => {
    expect(built).toContain('dist/cli/main.js');
    expect(built).toContain('dist/cli/config-worker.js');
    for (const f of built) expect(f).toMatch(/^dist\/cli\/[\w-]+\.js$/);
  });

  it('ships exactly dist/ (no maps), the profiles, the status page, systemd/, the schema, both example configs, docs/, grafana/ and the top-level papers', async () => {
    const git = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', ...SHIPPED_DIRS]);
    const expected = [...SHIPPED_FILES, ...git.stdout.trim().split('\n'), ...built].sort();
    expect(packed.files.map((f) => f.path).sort()).toEqual(expected);
  });

  it('has an MIT LICENSE file, as package.json says', async () => {
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('MIT');
    expect(await readFile(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} edgeflux contributors\n/);
  });
});

describe('npm i -g, then the installed commands', () => {
  const bin = (name: string) => join(prefix, 'bin', name);

  it('installs quietly with the documented --allow-scripts', () => {
    expect(install.stderr).not.toMatch(/install-scripts|allowScripts/);
  });

  it('edgeflux --version', async () => {
    const r = await run(bin('edgeflux'), ['--version']);
    expect(r).toEqual({ code: 0, stdout: `${packed.version}\n`, stderr: '' });
  });

  it.each(['edgeflux.yaml', 'raspberry-pi.yaml'])('edgeflux check on the shipped examples/%s', async (name) => {
    const file = join(installed, 'examples', name);
    const r = await run(bin('edgeflux'), ['check', '--config', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok — `));
  });

  it('edgeflux devices list names every shipped profile', async () => {
    const r = await run(bin('edgeflux'), ['devices', 'list']);
    expect(r.code).toBe(0);
    const names = r.stdout
      .split('\n\n')[0]!
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0])
      .sort();
    const shipped = (await readdir(join(ROOT, 'devices')))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.replace(/\.yaml$/, ''))
      .sort();
    expect(names).toEqual(shipped);
  });

  it('edgeflux run from the installed bundle: the embedded broker takes a reading, /healthz and the status page answer, SIGTERM stops it cleanly', async () => {
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const dir = join(tmp.path, 'run');
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'edgeflux.yaml');
    await writeFile(
      config,
      [
        `broker: { host: 127.0.0.1, port: ${mqttPort} }`,
        'rules: [{ topic: "sensors/{device}/{field}", format: number, measurement: m }]',
        'outputs: [{ id: local, type: influxdb_v1, url: "http://127.0.0.1:9", database: x }]',
        `spool: { dir: ${join(dir, 'spool')} }`,
        `dead_letter: { path: ${join(dir, 'dead-letter.jsonl')} }`,
        `service: { http: { host: 127.0.0.1, port: ${httpPort} } }`,
        '',
      ].join('\n'),
    );
    const proc = spawn(bin('edgeflux'), ['run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout.on('data', (b: Buffer) => (log += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<number | null>((done) => proc.on('exit', (code) => done(code)));
    try {
      const health = await waitFor(
        () =>
          fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
            (r) => r.json() as Promise<{ status: string }>,
            () => undefined,
          ),
        20_000,
        `/healthz of the installed daemon (log: ${log})`,
        200,
      );
      expect(typeof health.status).toBe('string');
      const page = await fetch(`http://127.0.0.1:${httpPort}/`, { signal: AbortSignal.timeout(2000) });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      const pub = await run(process.execPath, [
        '-e',
        `const m=require(${JSON.stringify(join(ROOT, 'node_modules/mqtt'))});const c=m.connect('mqtt://127.0.0.1:${mqttPort}');c.on('connect',()=>c.publish('sensors/th1/temperature','21.5',{qos:1},()=>c.end()))`,
      ]);
      expect(pub.code).toBe(0);
      await waitFor(
        async () =>
          (await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text()).match(
            /^edgeflux_messages_received_total\{[^}]*\} 1$/m,
          )
            ? true
            : undefined,
        10_000,
        'the reading counted in /metrics',
        200,
      );
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(log).not.toMatch(/"level":(50|60)/);
  }, 60_000);

  it('edgeflux-install works from the installed package: copies it (no build), grafana/ included', async () => {
    const r = await run(bin('edgeflux-install'), ['--dry-run', '--prefix', '/opt/ef-pkg'], { env: { EDGEFLUX_SYSTEMD_RUN_DIR: ROOT } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`installing the edgeflux package at ${installed} into /opt/ef-pkg`);
    expect(r.stdout).toContain(`+ cp -a ${installed}/. /opt/ef-pkg.new/`);
    expect(r.stdout).not.toMatch(/npm ci|npm run build/);
    expect(r.stdout).toMatch(/^\+ systemctl restart edgeflux\.service$/m);
    expect((await readdir(join(installed, 'grafana'))).sort()).toEqual(['edgeflux-flux.json', 'edgeflux-influxql.json']);
  });
});
