/**
 * Every child process and temp dir the bench makes is registered here, so that nothing
 * outlives the bench: on normal exit, on an error, and on Ctrl-C / SIGTERM (first signal:
 * orderly stop of every child, then exit 130; second signal: kill at once).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<Proc>();
const dirs = new Set<string>();

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Wall-clock ms when it was spawned. */
  readonly startedAt: number;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly hasExited: () => boolean;
  /** The last few KB of stdout and stderr. */
  readonly tail: () => string;
  /** Calls `fn` with each stdout line. */
  onLine(fn: (line: string) => void): void;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<void>;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Open an IPC channel (for `fork`-style workers). */
  readonly ipc?: boolean;
}

/** Spawns a tracked child; its stdout is read line by line (never left to fill the pipe). */
export function startProc(name: string, cmd: string, args: readonly string[], opts: StartOptions = {}): Proc {
  const stdio: StdioOptions = opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  // 'advanced' IPC serialization (structured clone): Infinity, bigint and Buffers survive.
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio, serialization: opts.ipc ? 'advanced' : 'json' });
  let tail = '';
  let exitedFlag = false;
  const listeners: ((line: string) => void)[] = [];
  const keep = (s: string): void => {
    tail = (tail + s).slice(-6000);
  };
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const text = partial + d.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 1_000_000) partial = '';
    for (const l of lines) {
      keep(l + '\n');
      for (const fn of listeners) fn(l);
    }
  });
  child.stderr?.on('data', (d: Buffer) => keep(d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exitedFlag = true;
      live.delete(proc);
      resolve(code);
    });
    child.once('error', (err) => {
      keep(`spawn error: ${err.message}\n`);
      exitedFlag = true;
      live.delete(proc);
      resolve(-1);
    });
  });
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    startedAt: Date.now(),
    exited,
    hasExited: () => exitedFlag,
    tail: () => tail,
    onLine: (fn) => void listeners.push(fn),
    async stop(graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM') {
      if (exitedFlag) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(proc);
  return proc;
}

/** A fresh temp dir under os.tmpdir(), removed when the bench ends (or by `removeDir`). */
export async function tempDir(prefix: string): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(path);
  return path;
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 3 });
  dirs.delete(path); // only now: an exit meanwhile still removes it (synchronously)
}

/** Stops every live child (in parallel, bounded by `graceMs` each) and removes the temp dirs. */
export async function cleanupAll(graceMs = 4000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
  await Promise.all([...dirs].map((d) => removeDir(d)));
}

let installed = false;
let signalled: NodeJS.Signals | undefined;

/** The signal that is stopping the bench, if any (its handler exits once everything is cleaned up). */
export function interruptedBy(): NodeJS.Signals | undefined {
  return signalled;
}

/**
 * Kills children and removes temp dirs on every way out: `exit` (synchronously, SIGKILL),
 * SIGINT/SIGTERM (orderly; a second signal exits at once), uncaught errors.
 */
export function installCleanupHandlers(log: (msg: string) => void): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    signalled = sig;
    if (signals > 1) process.exit(130);
    log(`\n${sig}: stopping every child process and removing temp dirs (again to exit at once)`);
    const hard = setTimeout(() => process.exit(130), 10_000);
    hard.unref();
    void cleanupAll(3000).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onFatal = (err: unknown): void => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    const hard = setTimeout(() => process.exit(1), 10_000);
    hard.unref();
    void cleanupAll(3000).finally(() => process.exit(1));
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
}
