/**
 * The files in systemd/: the unit passes `systemd-analyze verify` (and stays well hardened
 * by `systemd-analyze security --offline`), sysusers.d and tmpfiles.d apply to a scratch
 * root, and install.sh plans the right steps. Needs Debian's `systemd` package (for
 * systemd-analyze, systemd-sysusers, systemd-tmpfiles); no running systemd.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile, copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const UNIT = join(ROOT, 'systemd/edgeflux.service');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** install.sh takes systemd as running when this directory exists (here: a host that runs it). */
const SYSTEMD_UP = { EDGEFLUX_SYSTEMD_RUN_DIR: ROOT };

function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: 30_000, cwd: opts.cwd ?? ROOT, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, ...SYSTEMD_UP, ...opts.env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `[Section] Key=Value` pairs of a unit file (repeated keys keep every value). */
function unitEntries(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1] as string;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    m.set(key, [...(m.get(key) ?? []), line.slice(eq + 1)]);
  }
  return m;
}

describe('systemd/ files', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => (dir = await tempDir('edgeflux-systemd-')));
  afterEach(async () => dir.cleanup());

  /** The unit with ExecStart's node replaced by this node (verify needs an existing executable). */
  async function unitCopy(edit: (text: string) => string = (t) => t): Promise<string> {
    const text = (await readFile(UNIT, 'utf8')).replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `);
    const p = join(dir.path, 'edgeflux.service');
    await writeFile(p, edit(text));
    return p;
  }

  it('the unit passes systemd-analyze verify without a single message', async () => {
    const r = await run('systemd-analyze', ['verify', '--man=no', await unitCopy()], { cwd: dir.path });
    expect(r.stderr.split('\n').filter((l) => l.includes('edgeflux'))).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('(and verify does catch mistakes: the check above is not vacuous)', async () => {
    const r = await run('systemd-analyze', ['verify', '--man=no', await unitCopy((t) => t.replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'))], {
      cwd: dir.path,
    });
    expect(r.stderr).toMatch(/Unknown key 'NoNewPrivilege'/);
  });

  it('is hardened: systemd-analyze security --offline rates its exposure at most 3 (of 10)', async () => {
    // --threshold counts in tenths: 30 = an exposure of 3.0.
    const r = await run('systemd-analyze', ['security', '--offline=true', '--threshold=30', '--no-pager', await unitCopy()], { cwd: dir.path });
    expect(r.stdout).toMatch(/Overall exposure level for edgeflux\.service: [0-2]\.\d|Overall exposure level for edgeflux\.service: 3\.0/);
    expect(r.code).toBe(0);
  });

  it('is Type=notify with a watchdog, restarts, reloads by SIGHUP, runs as its own user in dialout, keeps the spool in StateDirectory, is confined and takes credentials', async () => {
    const u = unitEntries(await readFile(UNIT, 'utf8'));
    const one = (k: string) => u.get(k)?.at(-1);
    expect(one('Service.Type')).toBe('notify');
    expect(one('Service.NotifyAccess')).toBe('all'); // systemd-notify children send the notifications
    expect(one('Service.WatchdogSec')).toMatch(/^\d+s$/);
    expect(one('Service.Restart')).toBe('on-failure');
    expect(one('Service.ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Service.User')).toBe('edgeflux');
    expect(one('Service.SupplementaryGroups')).toBe('dialout');
    expect(one('Service.StateDirectory')).toBe('edgeflux');
    expect(one('Service.ConfigurationDirectory')).toBe('edgeflux');
    expect(one('Service.ReadWritePaths')).toBe('/var/lib/edgeflux');
    expect(one('Service.CapabilityBoundingSet')).toBe('');
    for (const [k, v] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
    ])
      expect(one(`Service.${k}`)).toBe(v);
    expect(one('Service.LoadCredential')).toBe('edgeflux:/etc/edgeflux/credentials');
    expect(u.has('Service.MemoryDenyWriteExecute')).toBe(false); // V8's JIT
    expect(u.has('Service.PrivateDevices')).toBe(false); // serial ports
    expect(one('Install.WantedBy')).toBe('multi-user.target');
    // TimeoutStopSec must leave room for the default shutdown_timeout (10 s).
    expect(Number(/^(\d+)s$/.exec(one('Service.TimeoutStopSec') ?? '')?.[1])).toBeGreaterThan(10);
  });

  it('sysusers.d creates a nologin system user in group dialout (applied to a scratch root)', async () => {
    await mkdir(join(dir.path, 'etc'));
    for (const f of ['passwd', 'group']) await copyFile(join('/etc', f), join(dir.path, 'etc', f));
    const r = await run('systemd-sysusers', [`--root=${dir.path}`, join(ROOT, 'systemd/edgeflux.sysusers')]);
    expect(r.stderr).not.toMatch(/fail|invalid|error/i);
    expect(r.code).toBe(0);
    const passwd = await readFile(join(dir.path, 'etc/passwd'), 'utf8');
    const user = passwd
      .split('\n')
      .find((l) => l.startsWith('edgeflux:'))!
      .split(':');
    expect(Number(user[2])).toBeLessThan(1000); // a system uid
    expect(user.slice(5)).toEqual(['/var/lib/edgeflux', '/usr/sbin/nologin']);
    const dialout = (await readFile(join(dir.path, 'etc/group'), 'utf8')).split('\n').find((l) => l.startsWith('dialout:'))!;
    expect(dialout.split(':')[3]?.split(',')).toContain('edgeflux');
  });

  it.runIf(process.getuid?.() === 0)('tmpfiles.d makes the config, credentials and state directories with their owners and modes (as root)', async () => {
    await mkdir(join(dir.path, 'etc'));
    for (const f of ['passwd', 'group']) await copyFile(join('/etc', f), join(dir.path, 'etc', f));
    expect((await run('systemd-sysusers', [`--root=${dir.path}`, join(ROOT, 'systemd/edgeflux.sysusers')])).code).toBe(0);
    const r = await run('systemd-tmpfiles', [`--root=${dir.path}`, '--create', join(ROOT, 'systemd/edgeflux.tmpfiles')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const uid = Number(
      (await readFile(join(dir.path, 'etc/passwd'), 'utf8'))
        .split('\n')
        .find((l) => l.startsWith('edgeflux:'))!
        .split(':')[2],
    );
    const mode = async (p: string) => {
      const s = await stat(join(dir.path, p));
      return [
        (s.mode & 0o7777).toString(8),
        s.uid === 0 ? 'root' : s.uid === uid ? 'edgeflux' : String(s.uid),
        s.gid === 0 ? 'root' : s.gid === uid ? 'edgeflux' : String(s.gid),
      ];
    };
    expect(await mode('etc/edgeflux')).toEqual(['750', 'root', 'edgeflux']);
    expect(await mode('etc/edgeflux/credentials')).toEqual(['700', 'root', 'root']);
    expect(await mode('var/lib/edgeflux')).toEqual(['750', 'edgeflux', 'edgeflux']);
  });
});

describe('systemd/install.sh (planned steps, --dry-run)', () => {
  const sh = join(ROOT, 'systemd/install.sh');

  it('is valid bash', async () => {
    expect((await run('bash', ['-n', sh])).code).toBe(0);
  });

  it('installs: build under the prefix, user, directories, unit with this node, example config, enable and start', async () => {
    const r = await run('bash', [sh, '--dry-run', '--prefix', '/opt/ef-test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const steps = r.stdout.split('\n').filter((l) => l.startsWith('+ '));
    const order = (re: RegExp) => steps.findIndex((l) => re.test(l));
    expect(order(/npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev/)).toBeGreaterThanOrEqual(0);
    expect(order(/^\+ systemd-sysusers \/etc\/sysusers\.d\/edgeflux\.conf$/)).toBeGreaterThan(order(/npm ci/));
    expect(order(/^\+ systemd-tmpfiles --create \/etc\/tmpfiles\.d\/edgeflux\.conf$/)).toBeGreaterThan(order(/systemd-sysusers/));
    expect(r.stdout).toMatch(
      /write \/etc\/systemd\/system\/edgeflux\.service \(ExecStart=\S*node --max-semi-space-size=4 --v8-pool-size=2 --max-old-space-size=512 \/opt\/ef-test\/dist\/cli\/main\.js run --config \/etc\/edgeflux\/edgeflux\.yaml\)/,
    );
    expect(r.stdout).toContain('install -m 0640 -o root -g edgeflux');
    expect(r.stdout).toContain('examples/raspberry-pi.yaml /etc/edgeflux/edgeflux.yaml');
    expect(order(/check --config \/etc\/edgeflux\/edgeflux\.yaml/)).toBeGreaterThan(order(/raspberry-pi\.yaml/));
    expect(order(/^\+ systemctl enable edgeflux\.service$/)).toBeGreaterThan(order(/systemctl daemon-reload/));
    expect(order(/^\+ systemctl restart edgeflux\.service$/)).toBeGreaterThan(order(/systemctl enable/));
  });

  it('from a checkout, copies grafana/ with the rest before building', async () => {
    const r = await run('bash', [sh, '--dry-run', '--prefix', '/opt/ef-test']);
    expect(r.stdout).toContain(`+ cp -a ${ROOT}/grafana /opt/ef-test.new/`);
    expect(r.stdout).toContain(`installing edgeflux from the checkout ${ROOT}`);
  });

  it('without a running systemd (a container): installs the program, then says so and how to run it, exit 0', async () => {
    const r = await run('bash', [sh, '--dry-run', '--prefix', '/opt/ef-test'], { env: { EDGEFLUX_SYSTEMD_RUN_DIR: '/nonexistent/run/systemd/system' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('+ ln -sf /opt/ef-test/dist/cli/main.js /usr/local/bin/edgeflux');
    expect(r.stdout).toContain('systemd is not running on this host (a container?): edgeflux is installed in /opt/ef-test');
    expect(r.stdout).toContain('edgeflux run --config edgeflux.yaml');
    expect(r.stdout).not.toMatch(/systemctl|daemon-reload|systemd-sysusers/);
  });

  it('--uninstall keeps config and data; with --purge removes them', async () => {
    const keep = await run('bash', [sh, '--dry-run', '--uninstall']);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toContain('+ systemctl disable --now edgeflux.service');
    expect(keep.stdout).toContain('+ rm -rf /opt/edgeflux');
    expect(keep.stdout).not.toMatch(/rm -rf .*\/(etc|var\/lib)\/edgeflux/);
    expect(keep.stdout).toMatch(/kept \/etc\/edgeflux .* and \/var\/lib\/edgeflux/);
    const purge = await run('bash', [sh, '--dry-run', '--uninstall', '--purge']);
    expect(purge.stdout).toContain('+ rm -rf /etc/edgeflux /var/lib/edgeflux');
  });

  it('refuses nonsense: --purge without --uninstall, a relative prefix, unknown options', async () => {
    expect((await run('bash', [sh, '--dry-run', '--purge'])).stderr).toMatch(/--purge goes with --uninstall/);
    expect((await run('bash', [sh, '--dry-run', '--prefix', 'opt'])).stderr).toMatch(/absolute path/);
    const bad = await run('bash', [sh, '--bogus']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown option: --bogus/);
  });
});
