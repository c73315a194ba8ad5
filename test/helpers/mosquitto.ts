import { spawn, type ChildProcess } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir, waitFor } from './net.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Listen on this port (e.g. to restart on the same one); default a free port. */
  port?: number;
  /** Extra lines for mosquitto.conf. */
  extraConfig?: string[];
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGTERM, then SIGKILL after 3 s) and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Runs the real mosquitto on 127.0.0.1 with a temp config: anonymous, no persistence,
 * and `max_queued_messages 0` (its default of 1000 drops QoS 1 messages to a busy
 * subscriber even after acking the publisher). Resolves once it accepts connections.
 */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  try {
    await access(MOSQUITTO, constants.X_OK);
  } catch {
    throw new Error(`mosquitto is required for the integration tests but ${MOSQUITTO} is missing: apt-get install mosquitto`);
  }
  const port = opts.port ?? (await freePort());
  const dir = await tempDir('edgeflux-mosquitto-');
  const conf = join(dir.path, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const stop = async (): Promise<void> => {
    await kill(proc, exit, () => exited);
    await dir.cleanup();
  };

  try {
    await waitFor(async () => exited || (await canConnect(port)), 10_000, `mosquitto on port ${port}`);
    if (exited) throw new Error(`mosquitto exited at start: ${stderr.trim() || 'no output'}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, stop };
}

async function kill(proc: ChildProcess, exit: Promise<void>, exited: () => boolean): Promise<void> {
  if (exited()) return;
  proc.kill('SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve();
    }, 3000);
  });
  await Promise.race([exit, killed]);
  clearTimeout(timer);
  await exit;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
