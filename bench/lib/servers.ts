/**
 * The bench's private servers on free loopback ports with temp dirs: mosquitto (configured
 * not to drop: `max_queued_messages 0`) and influxd 1.x (Debian's 1.6.7). Both are tracked
 * by procs.ts, so they are killed on exit, error or Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canConnect, freePort, waitFor } from './net.js';
import { removeDir, startProc, tempDir, type Proc } from './procs.js';

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
export const INFLUXD_BIN = process.env.INFLUXD_BIN ?? '/usr/bin/influxd';

/** A server the bench runs, where it is looked for, and the Debian package that has it. */
const SERVERS = [
  { name: 'mosquitto', bin: MOSQUITTO_BIN, env: 'MOSQUITTO_BIN', pkg: 'mosquitto' },
  { name: 'influxd 1.x', bin: INFLUXD_BIN, env: 'INFLUXD_BIN', pkg: 'influxdb' },
] as const;

/** What is missing to run the bench, with how to install it (empty when all is there). */
export function missingPrerequisites(): string[] {
  const missing: string[] = SERVERS.filter((s) => !existsSync(s.bin)).map((s) => `${s.name} (${s.bin}): sudo apt-get install -y ${s.pkg}   (or set ${s.env})`);
  if (!existsSync('/proc/self/stat')) missing.push('/proc (Linux): CPU and RSS are read from /proc/<pid>/stat and status');
  return missing;
}

/**
 * Installs the Debian packages of the missing servers when it can (running as root on a
 * machine with apt-get, as `.ci/run` does); otherwise leaves them to `missingPrerequisites`,
 * which says how. Each apt-get run is bounded (10 min).
 */
export function installMissingServers(log: (s: string) => void): void {
  const pkgs = SERVERS.filter((s) => !existsSync(s.bin) && process.env[s.env] === undefined).map((s) => s.pkg);
  if (pkgs.length === 0 || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return;
  log(`installing ${pkgs.join(', ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...pkgs]]) {
    const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    if (r.status !== 0) {
      log(`apt-get ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`})`);
      return;
    }
  }
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly proc: Proc;
  stop(): Promise<void>;
}

export async function startMosquitto(): Promise<Mosquitto> {
  const dir = await tempDir('edgeflux-bench-mosquitto-');
  const conf = join(dir, 'mosquitto.conf');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        // Its default of 1000 drops QoS 1 messages to a busy subscriber even after acking
        // the publisher; 0 = no limit, so that any loss measured is the system's own.
        'max_queued_messages 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    const proc = startProc('mosquitto', MOSQUITTO_BIN, ['-c', conf]);
    try {
      await waitFor(async () => proc.hasExited() || (await canConnect(port)), 10_000, `mosquitto on port ${port}`);
      if (proc.hasExited()) throw new Error(`mosquitto exited at start: ${proc.tail().trim() || 'no output'}`);
      return {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        proc,
        async stop() {
          await proc.stop(3000);
          await removeDir(dir);
        },
      };
    } catch (e) {
      await proc.stop(1000);
      if (attempt >= 3) throw e;
    }
  }
}

export interface Influxd {
  readonly url: string;
  /** The running process (changes after `resume()`). */
  readonly proc: Proc | undefined;
  query(q: string, db?: string): Promise<any>;
  /** Same, answered as CSV (exact integers). */
  queryCsv(q: string, db?: string, timeoutMs?: number): Promise<string>;
  createDatabase(db: string): Promise<void>;
  /**
   * Points influxd accepted into `db` since it (re)started, from its own statistics
   * (`/debug/vars`, the shards' writePointsOk): cheap to poll, unlike a COUNT query, which
   * scans what is stored and slows the very writes being timed.
   */
  pointsWritten(db: string): Promise<number>;
  /** Stops the server, keeping its data (an outage); `resume()` starts it on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

function influxConfig(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
  log-queries-after = "0s"
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  max-row-limit = 0
[logging]
  level = "error"
  suppress-logo = true
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
  log-enabled = false
`;
}

export async function startInfluxd(): Promise<Influxd> {
  const dir = await tempDir('edgeflux-bench-influxd-');
  const confPath = join(dir, 'influxd.conf');
  let httpPort = 0;
  let proc: Proc | undefined;
  const url = (): string => `http://127.0.0.1:${httpPort}`;

  const launch = async (): Promise<void> => {
    const p = startProc('influxd', INFLUXD_BIN, ['-config', confPath]);
    proc = p;
    try {
      await waitFor(
        async () => {
          if (p.hasExited()) throw new Error(`influxd exited: ${p.tail().trim()}`);
          const r = await fetch(`${url()}/ping`, { signal: AbortSignal.timeout(1000) });
          return r.status === 204;
        },
        60_000,
        `influxd on ${url()}`,
        100,
      );
    } catch (e) {
      await p.stop(1000, 'SIGKILL');
      throw e;
    }
  };

  for (let attempt = 1; ; attempt++) {
    httpPort = await freePort();
    await writeFile(confPath, influxConfig(dir, httpPort, await freePort()));
    try {
      await launch();
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }

  const post = async (q: string, db: string | undefined, accept: string, timeoutMs = 30_000): Promise<Response> => {
    const params = new URLSearchParams({ q });
    if (db) params.set('db', db);
    const r = await fetch(`${url()}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept },
      body: params.toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (r.status >= 300) throw new Error(`influxd query ${q} → ${r.status}: ${await r.text()}`);
    return r;
  };

  const self: Influxd = {
    get url() {
      return url();
    },
    get proc() {
      return proc;
    },
    async query(q, db) {
      const json = (await (await post(q, db, 'application/json')).json()) as { results?: { error?: string }[] };
      const err = json.results?.find((r) => r.error)?.error;
      if (err) throw new Error(`influxd query ${q}: ${err}`);
      return json;
    },
    async queryCsv(q, db, timeoutMs) {
      return (await post(q, db, 'application/csv', timeoutMs)).text();
    },
    async createDatabase(db) {
      await self.query(`CREATE DATABASE "${db}"`);
    },
    async pointsWritten(db) {
      const r = await fetch(`${url()}/debug/vars`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) throw new Error(`influxd /debug/vars → ${r.status}`);
      const vars = (await r.json()) as Record<string, { name?: string; tags?: Record<string, string>; values?: Record<string, number> }>;
      let n = 0;
      for (const v of Object.values(vars)) if (v?.name === 'shard' && v.tags?.database === db) n += v.values?.writePointsOk ?? 0;
      return n;
    },
    async pause() {
      const p = proc;
      proc = undefined;
      await p?.stop(15_000);
    },
    async resume() {
      if (!proc) await launch();
    },
    async stop() {
      await self.pause();
      await removeDir(dir);
    },
  };
  return self;
}
