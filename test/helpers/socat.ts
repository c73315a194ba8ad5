import { spawn, type ChildProcess } from 'node:child_process';
import { access, lstat, rm } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from './net.js';

export const SOCAT = '/usr/bin/socat';

/**
 * A pseudo-terminal pair standing in for a serial device: bytes written to one end come
 * out of the other. `a` is the end edgeflux opens (the "device path"), `b` the test's end
 * (the "device"). Both are symlinks in a temp dir to /dev/pts/N.
 */
export interface PtyPair {
  readonly a: string;
  readonly b: string;
  /** Whether socat runs (the device is "plugged in"). */
  readonly running: boolean;
  /** Unplug: stops socat (SIGTERM, then SIGKILL) and waits until it exited and the links are gone. */
  unplug(): Promise<void>;
  /** Replug: starts socat again with the same link paths; resolves once both links exist and it transfers data. */
  replug(): Promise<void>;
  /** Stops socat and removes the temp dir. */
  close(): Promise<void>;
}

/** Starts `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` in a fresh temp dir. */
export async function startPtyPair(): Promise<PtyPair> {
  try {
    await access(SOCAT, constants.X_OK);
  } catch {
    throw new Error(`socat is required for the serial integration tests but ${SOCAT} is missing: apt-get install socat`);
  }
  const dir = await tempDir('edgeflux-pty-');
  const a = join(dir.path, 'device');
  const b = join(dir.path, 'peer');
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    // A socat killed hard leaves its links behind; socat would refuse to replace them.
    await rm(a, { force: true });
    await rm(b, { force: true });
    const p = spawn(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    let stderr = '';
    let ready = false;
    let gone = false;
    p.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 16_384) stderr += d.toString();
      if (stderr.includes('starting data transfer loop')) ready = true;
    });
    exited = new Promise<void>((resolve) =>
      p.once('exit', () => {
        gone = true;
        resolve();
      }),
    );
    await waitFor(() => gone || (ready && existsSync(a) && existsSync(b)), 10_000, 'socat pty links');
    if (gone) throw new Error(`socat exited at start: ${stderr.trim()}`);
  };

  const stopProc = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    // SIGTERM removes the links; make sure, so that "unplugged" means the path is gone.
    for (const l of [a, b]) {
      if (
        await lstat(l).then(
          () => true,
          () => false,
        )
      )
        await rm(l, { force: true });
    }
  };

  await launch();
  return {
    a,
    b,
    get running() {
      return proc !== undefined;
    },
    unplug: stopProc,
    replug: async () => {
      if (proc !== undefined) return;
      await launch();
    },
    close: async () => {
      await stopProc();
      await dir.cleanup();
    },
  };
}
