/**
 * The daemon's config, loaded and validated in a short-lived child process (config-worker.ts,
 * the same loader as `edgeflux check`), which hands back the result over IPC and exits. The
 * daemon process then never loads the YAML parser, the schema library and the schema
 * objects: they would stay in its heap for its whole life (modules are never unloaded),
 * ~9 MB of an idle daemon's RSS for a few milliseconds of use at start and on SIGHUP.
 *
 * The result is the loader's own (`LoadResult`: the frozen config, or every issue with
 * file:line:column, key and code), cloned as is (`serialization: 'advanced'`), plus the
 * world-readable secret files found. Secrets travel over the IPC pipe, never argv or env.
 */
import { fork } from 'node:child_process';
import { getHeapStatistics } from 'node:v8';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from '../config/load.js';
import type { PermissionWarning } from '../config/permissions.js';
import { deepFreeze } from '../util/freeze.js';

/** What the child found. */
export interface ApartLoad {
  readonly load: LoadResult;
  /** Secret files (and a config with inline secrets) readable by every user. */
  readonly permissions: readonly PermissionWarning[];
}

export interface ApartOptions {
  /** The child's environment (`${ENV}` references, $STATE_DIRECTORY, $CREDENTIALS_DIRECTORY); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long the child may take (a Pi Zero needs seconds to start node and load the schema); default 60 s. */
  readonly timeoutMs?: number;
  /** Node flags of the child; default this process's own (the unit's heap flags, or tsx's loader from the sources). */
  readonly execArgv?: readonly string[];
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** config-worker.js beside this module (config-worker.ts when run from the sources). */
const WORKER = fileURLToPath(new URL(`./config-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * Loads `path` in a child process. Rejects, naming the cause, when the child cannot run,
 * dies without an answer or outlives `timeoutMs` (it is then killed).
 */
export function loadConfigApart(path: string, opts: ApartOptions = {}): Promise<ApartLoad> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<ApartLoad>((resolve, reject) => {
    // The daemon's heap limit: a memory spool must fit this process's heap, not the child's.
    const child = fork(WORKER, [path, String(getHeapStatistics().heap_size_limit)], {
      execArgv: [...(opts.execArgv ?? process.execArgv)],
      env: opts.env ?? process.env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let answer: ApartLoad | undefined;
    let settled = false;
    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`config loader (a child process) gave no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('message', (m: unknown) => {
      const a = m as ApartLoad;
      answer = { load: a.load.ok ? { ...a.load, config: deepFreeze(a.load.config) } : a.load, permissions: a.permissions };
    });
    child.on('error', (err) => finish(new Error(`config loader (a child process) failed: ${err.message}`)));
    // 'close', not 'exit': it comes once the IPC channel is closed too, so after the answer.
    child.on('close', (code, signal) => {
      if (answer !== undefined) finish(undefined);
      else finish(new Error(`config loader (a child process) ended without an answer (${signal ?? `exit code ${code}`})`));
    });
  });
}
