/**
 * Serial sensors for the bench: socat pseudo-terminal pairs (one end is the "device path"
 * edgeflux opens, the other the sensor's side) and a writer that sends one JSON line per
 * reading (the `flat` payload plus the `device` key the rule turns into a tag) at
 * a paced rate, reading `seq` on port `(seq % devices) % ports`. The writer runs in the
 * bench's own process: its CPU is not counted against edgeflux.
 */
import { existsSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { PublishResult } from './load-worker.js';
import { sleep, waitFor } from './net.js';
import { removeDir, startProc, tempDir, type Proc } from './procs.js';
import { deviceName } from './readings.js';
import { PAYLOADS } from './workload.js';

export const SOCAT_BIN = process.env.SOCAT_BIN ?? '/usr/bin/socat';

export interface SerialPorts {
  /** The ports as edgeflux's config names them (id: the topic of their messages). */
  readonly ports: readonly { readonly id: string; readonly path: string }[];
  /** Writes `count` readings at `rate` across the ports; resolves once all are written. */
  feed(a: { readonly run: string; readonly devices: number; readonly rate: number; readonly count: number; readonly tsBase: number }): Promise<PublishResult>;
  stop(): Promise<void>;
}

/** `n` pty pairs; the sensor's ends are opened for writing. */
export async function startSerialPorts(n: number, idPrefix = 'serial'): Promise<SerialPorts> {
  const dir = await tempDir('edgeflux-bench-pty-');
  const procs: Proc[] = [];
  const peers: FileHandle[] = [];
  const ports: { id: string; path: string }[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(peers.map((f) => f.close().catch(() => {})));
    await Promise.all(procs.map((p) => p.stop(2000)));
    await removeDir(dir);
  };
  try {
    for (let i = 0; i < n; i++) {
      const device = join(dir, `tty${i}`);
      const peer = join(dir, `peer${i}`);
      await rm(device, { force: true });
      const p = startProc(`socat pty ${i}`, SOCAT_BIN, ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${peer}`]);
      procs.push(p);
      await waitFor(
        () => p.hasExited() || (existsSync(device) && existsSync(peer) && p.tail().includes('starting data transfer loop')),
        10_000,
        `socat pty pair ${i}`,
      );
      if (p.hasExited()) throw new Error(`socat exited at start: ${p.tail().trim()}`);
      peers.push(await open(peer, 'r+'));
      ports.push({ id: `${idPrefix}${i}`, path: device });
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const feed: SerialPorts['feed'] = async (a) => {
    const flat = PAYLOADS.flat;
    const t0 = performance.now();
    let sent = 0;
    let maxLagMs = 0;
    let lastWriteAt = t0;
    while (sent < a.count) {
      const now = performance.now();
      const due = Math.min(a.count, Math.floor((a.rate * (now - t0)) / 1000) + 1);
      if (due > sent) maxLagMs = Math.max(maxLagMs, now - t0 - (sent * 1000) / a.rate);
      const lines: string[][] = ports.map(() => []);
      for (; sent < due; sent++) {
        const body = flat.payload(sent, a.devices, a.tsBase);
        lines[(sent % a.devices) % ports.length]!.push(`{"device":"${deviceName(sent, a.devices)}",${body.slice(1)}\n`);
      }
      await Promise.all(lines.map((l, i) => (l.length > 0 ? peers[i]!.write(l.join('')) : undefined)));
      lastWriteAt = performance.now();
      if (sent < a.count) await sleep(5);
    }
    const elapsedMs = Math.max(0.001, lastWriteAt - t0);
    const lastPublishAt = Date.now() - (performance.now() - lastWriteAt);
    return { sent, elapsedMs, achievedRate: sent / (elapsedMs / 1000), maxLagMs, maxHeldMs: 0, abandoned: false, lastPublishAt, doneAt: Date.now() };
  };
  return { ports, feed, stop };
}
