/**
 * How sd_notify messages reach the service manager without a native addon.
 *
 * Node has no unix datagram sockets in core (`dgram` is UDP only, `net` is stream only,
 * and neither wraps a foreign AF_UNIX/SOCK_DGRAM descriptor), so the message is handed to
 * systemd's own `systemd-notify` tool, one short-lived child per message. Why this one:
 * - it exists wherever systemd does (package `systemd`), so installing edgeflux needs no
 *   compiler, no `libsystemd-dev` (the `sd-notify` package) and no node-gyp build
 *   (`unix-dgram`), and nothing to rebuild when Node is upgraded;
 * - since systemd 246 it waits for PID 1 to have processed the message (a BARRIER=1
 *   round trip) before exiting, which closes the classic race of an exiting helper whose
 *   message PID 1 can no longer attribute to the unit (Debian 12 and Raspberry Pi OS
 *   bookworm ship 252);
 * - the cost: the unit needs `NotifyAccess=all` (the sender is the child, not the main
 *   PID; in our unit only edgeflux and these children run, so "all" is the same trust
 *   boundary), and one process spawn per message (the notifier coalesces watchdog and
 *   status into one message per tick: a few per minute).
 * Any other transport (e.g. `unix-dgram`, which would allow `NotifyAccess=main`) plugs in
 * through `NotifyTransport`.
 */
import { spawn } from 'node:child_process';

/** Sends one notify message (newline-separated `KEY=VALUE` assignments). */
export interface NotifyTransport {
  /** Resolves once the message was handed over; rejects with the reason otherwise. */
  send(message: string): Promise<void>;
}

export interface SystemdNotifyCommandOptions {
  /** Value for NOTIFY_SOCKET: a path, `@abstract` name (or anything systemd-notify accepts). */
  readonly socket: string;
  /** The tool; default `systemd-notify` from PATH. */
  readonly command?: string;
  /** A child still running after this is killed and the send fails. Default 10 s. */
  readonly timeoutMs?: number;
  /** PATH for the child; default the daemon's PATH. */
  readonly path?: string;
}

const MAX_STDERR = 1024;

/** Runs `systemd-notify -- KEY=VALUE...` once per message, with only PATH and NOTIFY_SOCKET in its environment. */
export function systemdNotifyCommand(opts: SystemdNotifyCommandOptions): NotifyTransport {
  const command = opts.command ?? 'systemd-notify';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: opts.socket, PATH: opts.path ?? process.env.PATH ?? '/usr/bin:/bin' };
  return {
    send(message) {
      return new Promise<void>((resolve, reject) => {
        const args = ['--', ...message.split('\n').filter((l) => l !== '')];
        const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
        let stderr = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (s: string) => {
          if (stderr.length < MAX_STDERR) stderr += s.slice(0, MAX_STDERR - stderr.length);
        });
        child.once('error', (err) => reject(err));
        child.once('close', (code, signal) => {
          if (code === 0) resolve();
          else
            reject(new Error(`${command} ${signal ? `killed by ${signal} (timeout ${timeoutMs} ms)` : `exited ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`));
        });
      });
    },
  };
}
