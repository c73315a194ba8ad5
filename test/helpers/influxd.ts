/**
 * A real InfluxDB 1.x (`influxd`, Debian's 1.6.7) per test file: temp config and data dir,
 * HTTP and RPC ports free on 127.0.0.1, quiet logs, nothing but the HTTP service.
 * `pause()`/`resume()` stop and restart it on the same port and data (outage tests);
 * `stop()` kills it and removes its dir. Integration tests require it: when influxd is
 * missing, startInfluxd() throws (it never skips).
 */
import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitFor } from './net.js';

export interface InfluxdOptions {
  /** Require authentication; an admin user `admin` / `adminpass` is created. */
  readonly auth?: boolean;
  /** `[http] max-body-size` in bytes (default InfluxDB's 25 MB). */
  readonly maxBodySize?: number;
}

export interface Influxd {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** InfluxQL over HTTP (POST, so CREATE/DROP work); resolves the parsed JSON body. */
  query(q: string, db?: string): Promise<any>;
  /** Same, answered as CSV text (exact int64 and ns values, which JSON numbers lose). */
  queryCsv(q: string, db?: string): Promise<string>;
  /** The values of a query selecting one numeric field (`SELECT n FROM m`), as numbers, in time order. */
  numbers(q: string, db: string): Promise<number[]>;
  /**
   * Points in a measurement: per series, the count of its most frequent field, summed
   * (exact when, within a series, some field is present in every point).
   */
  count(db: string, measurement: string): Promise<number>;
  createDatabase(db: string): Promise<void>;
  /** Stops the server, keeping its data; `resume()` starts it again on the same port. */
  pause(signal?: NodeJS.Signals): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const BIN = process.env.INFLUXD_BIN ?? '/usr/bin/influxd';
export const ADMIN = { username: 'admin', password: 'adminpass' };

function config(dir: string, httpPort: number, rpcPort: number, opts: InfluxdOptions): string {
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
  auth-enabled = ${opts.auth ? 'true' : 'false'}
  log-enabled = false
  suppress-write-log = true
  max-row-limit = 0
${opts.maxBodySize !== undefined ? `  max-body-size = ${opts.maxBodySize}\n` : ''}[logging]
  level = "error"
  suppress-logo = true
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
  log-enabled = false
`;
}

export async function startInfluxd(opts: InfluxdOptions = {}): Promise<Influxd> {
  if (!existsSync(BIN)) {
    throw new Error(`influxd not found at ${BIN}: integration tests need InfluxDB 1.x (Debian: apt-get install influxdb; or set INFLUXD_BIN)`);
  }
  const tmp = await tempDir('edgeflux-influxd-');
  const confPath = join(tmp.path, 'influxd.conf');
  let child: ChildProcess | undefined;
  let stderr = '';
  let httpPort = 0;
  const url = (): string => `http://127.0.0.1:${httpPort}`;
  const authHeader: Record<string, string> = opts.auth
    ? { authorization: 'Basic ' + Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64') }
    : {};
  const killOnExit = (): void => void child?.kill('SIGKILL');

  const launch = async (): Promise<void> => {
    stderr = '';
    const proc = spawn(BIN, ['-config', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let exited = false;
    proc.once('exit', () => (exited = true));
    try {
      await waitFor(
        async () => {
          if (exited) throw new Error(`influxd exited: ${stderr.trim()}`);
          const r = await fetch(`${url()}/ping`, { signal: AbortSignal.timeout(1000) });
          return r.status === 204;
        },
        20_000,
        `influxd on ${url()}`,
      );
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
  };

  const halt = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };

  // The free ports may be taken between probing and binding: try a few times.
  for (let attempt = 1; ; attempt++) {
    httpPort = await freePort();
    const rpcPort = await freePort();
    await writeFile(confPath, config(tmp.path, httpPort, rpcPort, opts));
    try {
      await launch();
      break;
    } catch (e) {
      await halt('SIGKILL');
      if (attempt >= 3) {
        await tmp.cleanup();
        throw e;
      }
    }
  }
  process.once('exit', killOnExit);

  const post = async (q: string, db: string | undefined, accept: string): Promise<Response> => {
    const params = new URLSearchParams({ q });
    if (db) params.set('db', db);
    const r = await fetch(`${url()}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept, ...authHeader },
      body: params.toString(),
      signal: AbortSignal.timeout(30_000),
    });
    if (r.status >= 300) throw new Error(`influxd query ${q} → ${r.status}: ${await r.text()}`);
    return r;
  };

  const self: Influxd = {
    get url() {
      return url();
    },
    get port() {
      return httpPort;
    },
    dir: tmp.path,
    async query(q, db) {
      const json = (await (await post(q, db, 'application/json')).json()) as { results?: { error?: string }[] };
      const err = json.results?.find((r) => r.error)?.error;
      if (err) throw new Error(`influxd query ${q}: ${err}`);
      return json;
    },
    async queryCsv(q, db) {
      return (await post(q, db, 'application/csv')).text();
    },
    async numbers(q, db) {
      // CSV rows: name,tags,time,value (a header line first; nothing at all for no rows).
      const rows = (await self.queryCsv(q, db)).trim().split('\n').slice(1).filter(Boolean);
      return rows.map((l) => Number(l.split(',')[3]));
    },
    async count(db, measurement) {
      const ident = '"' + measurement.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
      const json = await self.query(`SELECT COUNT(*) FROM ${ident} GROUP BY *`, db);
      let total = 0;
      for (const s of (json.results?.[0]?.series ?? []) as { values: unknown[][] }[]) {
        const row = s.values[0] ?? [];
        total += Math.max(0, ...row.slice(1).map((v) => (typeof v === 'number' ? v : 0)));
      }
      return total;
    },
    async createDatabase(db) {
      await self.query(`CREATE DATABASE "${db.replace(/"/g, '\\"')}"`);
    },
    async pause(signal) {
      await halt(signal);
    },
    async resume() {
      if (child) return;
      await launch();
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      await halt();
      await tmp.cleanup();
    },
  };
  if (opts.auth) {
    // The first admin user may be created without credentials.
    await fetch(`${url()}/query`, {
      method: 'POST',
      body: new URLSearchParams({ q: `CREATE USER ${ADMIN.username} WITH PASSWORD '${ADMIN.password}' WITH ALL PRIVILEGES` }),
      signal: AbortSignal.timeout(10_000),
    });
  }
  return self;
}

/**
 * An influxd and a temp dir shared by the tests of one file: started before them, stopped
 * and removed after them. Read `influx` and `dir` inside tests (they are set in beforeAll).
 */
export function influxdPerFile(): { influx: Influxd; dir: { path: string; cleanup: () => Promise<void> } } {
  const fx = {} as { influx: Influxd; dir: { path: string; cleanup: () => Promise<void> } };
  beforeAll(async () => {
    [fx.influx, fx.dir] = await Promise.all([startInfluxd(), tempDir()]);
  });
  afterAll(async () => {
    await fx.influx?.stop();
    await fx.dir?.cleanup();
  });
  return fx;
}
