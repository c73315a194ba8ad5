/**
 * A real unix datagram socket standing in for systemd's notify socket. Node cannot bind
 * one, so a tiny Perl receiver does (perl-base is Essential in Debian: always there);
 * every datagram comes back hex-encoded, one per line, so message boundaries survive.
 * socat would not do: it keeps the descriptors passed with systemd-notify's BARRIER=1
 * (SCM_RIGHTS), so every barrier would wait for its 5 s timeout. This receiver reads
 * with recv(2) and no control buffer, so the kernel closes them at once, as PID 1 does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { tempDir, waitFor } from './net.js';

const RECEIVER = String.raw`
use strict; use warnings; use Socket;
my $path = shift; $| = 1;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
my $addr = $path =~ /^@(.*)$/s ? "\0$1" : $path;
bind($s, pack_sockaddr_un($addr)) or die "bind: $!";
print "BOUND\n";
while (1) { my $buf; defined(recv($s, $buf, 65536, 0)) or die "recv: $!"; print unpack("H*", $buf), "\n"; }
`;

export interface NotifySocket {
  /** The NOTIFY_SOCKET value (a path, or `@name` for an abstract socket). */
  readonly address: string;
  /** Every datagram received so far, in order. */
  readonly messages: string[];
  /** Waits until `pred` holds over the messages received. */
  until(pred: (msgs: readonly string[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/** Binds a datagram socket at a temp path, or an abstract one when `abstract` is true. */
export async function notifySocket(abstract = false): Promise<NotifySocket> {
  const dir = await tempDir('edgeflux-notify-');
  const address = abstract ? `@edgeflux-test-${process.pid}-${Math.random().toString(36).slice(2)}` : join(dir.path, 'notify.sock');
  const child: ChildProcess = spawn('perl', ['-e', RECEIVER, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: string[] = [];
  let bound = false;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'BOUND') bound = true;
    else messages.push(Buffer.from(line, 'hex').toString('utf8'));
  });
  try {
    await waitFor(() => bound || child.exitCode !== null, 10_000, 'the notify receiver to bind');
    if (!bound) throw new Error(`notify receiver failed: ${stderr}`);
  } catch (err) {
    child.kill('SIGKILL');
    await dir.cleanup();
    throw err;
  }
  return {
    address,
    messages,
    until: async (pred, timeoutMs = 15_000, what = 'notify messages') => {
      await waitFor(() => pred(messages), timeoutMs, `${what} (got ${JSON.stringify(messages)})`);
    },
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await dir.cleanup();
    },
  };
}
