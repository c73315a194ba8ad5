import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './net.js';

/** `node --import tsx src/cli/main.ts`: the real CLI, run from the sources. */
export const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts')];

/** A real `edgeflux run` process. */
export interface DaemonProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr). */
  readonly log: () => string;
}

const running = new Set<ChildProcess>();

/** Starts `edgeflux run --config FILE` and resolves once it logged "edgeflux started". */
export async function runDaemon(config: string, timeoutMs = 30_000): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [...CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  await waitFor(() => out.includes('edgeflux started') || child.exitCode !== null, timeoutMs, 'edgeflux started');
  if (!out.includes('edgeflux started')) throw new Error(`edgeflux did not start:\n${out}`);
  return { child, exited, log: () => out };
}

/** kill -9 of every daemon process a test started and did not see exit (for afterAll). */
export function killAllDaemons(): void {
  for (const c of running) c.kill('SIGKILL');
}
