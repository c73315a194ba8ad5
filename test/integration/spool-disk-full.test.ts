import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, statfsSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { startAckedPublisher } from '../helpers/acked-publisher.js';
import { CLI, killAllDaemons, runDaemon } from '../helpers/daemon-process.js';
import { spawn } from 'node:child_process';
import { parsePrometheus } from '../helpers/prometheus.js';

// The spool's filesystem fills up (a 4 MiB tmpfs, most of it taken by a filler file):
// the daemon stops acknowledging (the publisher keeps the data), says why in its log and
// /healthz, keeps running, and acknowledges again by itself once the filler is gone;
// every acknowledged reading reaches a real influxd, and a restart finds no damaged record.

const fx = influxdPerFile();
const mounts: string[] = [];
afterAll(() => {
  killAllDaemons();
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});

async function health(url: string): Promise<{ status: number; body: { reasons: { check: string; message: string }[] } }> {
  const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json()) as { reasons: { check: string; message: string }[] } };
}

/** Sum of the samples of one counter family in the daemon's /metrics (every label set). */
async function counter(url: string, name: string): Promise<number> {
  const r = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  let sum = 0;
  for (const [k, v] of parsePrometheus(await r.text())) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}

/** What a daemon logged at warn and above, then its last 30 lines whatever their level (for a failure's message). */
const lastWords = (log: string): string => {
  const lines = log.trimEnd().split('\n');
  return [...lines.filter((l) => /"level":(40|50|60)/.test(l)), '--- last lines:', ...lines.slice(-30)].join('\n');
};

const REFUSED = 'edgeflux_journal_refused_appends_total';
const RECEIVED = 'edgeflux_messages_received_total';

describe('durable spool: disk full', () => {
  it('stops acking while the disk is full, says why, and resumes by itself when space is back; nothing acked is lost', { timeout: 120_000 }, async () => {
    await fx.influx.createDatabase('full');
    const spool = join(fx.dir.path, 'spool');
    mkdirSync(spool);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', spool]);
    mounts.push(spool);
    const filler = join(spool, 'filler');
    const free = statfsSync(spool).bavail * statfsSync(spool).bsize;
    execFileSync('fallocate', ['-l', String(free - 512 * 1024), filler]); // leave 512 KiB
    const port = await freePort();
    const hport = await freePort();
    const config = join(fx.dir.path, 'full.yaml');
    await writeFile(
      config,
      `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "full/{device}/{measurement}"
    format: json
    json: { integers: [n] }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: full, batch: { max_age: 100ms }, retry: { initial: 100ms, max: 1s } }
spool: { dir: ${spool}, sync: 100ms }
log: { level: info }
service: { http: { port: ${hport} }, internal_metrics: { enabled: false } }
`,
    );
    const d = await runDaemon(config);
    const url = `http://127.0.0.1:${hport}`;
    const pad = 'x'.repeat(200);
    const pub = startAckedPublisher({ port, window: 50, message: (i) => ({ topic: 'full/d1/m', payload: JSON.stringify({ n: i, pad }) }) });
    try {
      // ~300 B per record: 512 KiB fills within a few thousand messages; then acks stop.
      await waitFor(async () => (await health(url)).status === 503, 60_000, '/healthz 503 (disk full)', 100); // a few seconds when quiet; 30 s ran out under a load of 30
      const h = await health(url);
      expect(h.body.reasons).toContainEqual(expect.objectContaining({ check: 'spool_refusing' }));
      expect(h.body.reasons.find((r) => r.check === 'spool_refusing')!.message).toMatch(/disk.*full.*free space/i);
      const ackedWhenFull = pub.acked.size;
      const [refused0, received0] = [await counter(url, REFUSED), await counter(url, RECEIVED)];
      // Held, not dropped: the daemon tries the held messages again (every 200 ms, and after
      // each write of a drain) and is refused each time, while it reads nothing new.
      await waitFor(async () => (await counter(url, REFUSED)) >= refused0 + 5, 30_000, 'five refused attempts more', 100);
      const [refused1, received1] = [await counter(url, REFUSED), await counter(url, RECEIVED)];
      expect(received1 - received0).toBeLessThan(refused1 - refused0); // the refusals are retries, not new messages
      expect(pub.acked.size - ackedWhenFull).toBeLessThan(100); // at most what was in flight
      expect(d.child.exitCode).toBeNull();
      expect(d.log()).toMatch(/disk full/);
      expect(d.log()).toContain('"code":"EFX_SPOOL_DISK_FULL"');

      await unlink(filler); // space is back
      const target = pub.acked.size + 2000;
      await waitFor(() => pub.acked.size >= target, 30_000, 'acks again after the space came back');
      await waitFor(async () => (await health(url)).status === 200, 10_000, '/healthz 200 again', 100);
      expect(d.log()).toMatch(/room again/);
      pub.pause();
      await waitFor(() => pub.inFlight === 0, 10_000, 'in-flight publishes acknowledged');
      const acked = [...pub.acked];
      await waitFor(async () => (await fx.influx.count('full', 'm')) >= acked.length, 30_000, 'acknowledged readings in InfluxDB', 200);
      const stored = new Set(await fx.influx.numbers('SELECT n FROM m', 'full'));
      expect(acked.filter((i) => !stored.has(i))).toEqual([]);
      d.child.kill('SIGTERM');
      expect(await d.exited, lastWords(d.log())).toBe(0);

      const again = await runDaemon(config);
      expect(again.log()).toMatch(/"damaged":0/);
      again.child.kill('SIGTERM');
      expect(await again.exited, lastWords(again.log())).toBe(0);
    } finally {
      await pub.close();
    }
  });

  const spoolYaml = (spool: string, port: number) => `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "ro/{measurement}"
    format: json
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: ro }
spool: { dir: ${spool} }
service: { http: { port: 0 }, internal_metrics: { enabled: false } }
`;

  it('a read-only spool dir at start: exit 1 with an error naming the path and the fix, and its code', async () => {
    const spool = join(fx.dir.path, 'ro-start');
    mkdirSync(spool);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', spool]);
    mounts.push(spool);
    const config = join(fx.dir.path, 'ro-start.yaml');
    await writeFile(config, spoolYaml(spool, await freePort()));
    const child = spawn(process.execPath, [...CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(out).toContain(`start failed: spool: ${spool} is on a read-only filesystem: remount it read-write`);
    const line = out.split('\n').find((l) => l.includes('start failed')) ?? '';
    expect((JSON.parse(line) as { code?: string }).code).toBe('EFX_SPOOL_DIR_READ_ONLY');
  }, 30_000);

  it.each(['removed'])(
    'a spool dir %s while running: exit 1 with an error naming the path and the fix, and its code',
    async (how) => {
      const spool = join(fx.dir.path, `rt-${how.replace(/ /g, '-')}`);
      mkdirSync(spool);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', spool]);
      mounts.push(spool);
      const dir = how === 'removed' ? join(spool, 'inner') : spool;
      const port = await freePort();
      const config = join(fx.dir.path, `rt-${how.replace(/ /g, '-')}.yaml`);
      await writeFile(config, spoolYaml(dir, port));
      const d = await runDaemon(config);
      execFileSync('rm', ['-rf', dir]); // (a read-only remount is refused while the journal holds files open for writing)
      const pub = startAckedPublisher({ port, window: 10, message: (i) => ({ topic: 'ro/m', payload: JSON.stringify({ n: i }) }) });
      try {
        const code = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
        expect(code).toBe(1);
        expect(d.log()).toMatch(/spool: .*inner does not exist \(or was removed while running\)/);
        const fatal = d
          .log()
          .split('\n')
          .find((l) => l.includes('"level":60'));
        expect((JSON.parse(fatal ?? '{}') as { code?: string }).code).toBe('EFX_SPOOL_DIR_MISSING');
      } finally {
        await pub.close();
      }
    },
    40_000,
  );
});
