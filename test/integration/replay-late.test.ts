import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publishAll, publisher } from '../helpers/daemon.js';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { killAllDaemons, runDaemon } from '../helpers/daemon-process.js';

// A late reading after the cursor, end to end: the real `edgeflux run` process, its embedded broker (QoS 1), a
// real influxd 1.6.7, kill -9 after the late reading, restart on the same spool. The
// restarted run must not rewrite B's written window from the late reading alone.

const fx = influxdPerFile();
afterAll(killAllDaemons);

interface Spool {
  readonly outputs: readonly { readonly id: string; readonly cursor: number; readonly behind: number; readonly saved?: number }[];
}

describe('replay after kill -9: a late reading after the cursor', () => {
  it('the minimal case: B@T keeps count 1, mean 10 after a restart that follows the late reading', async () => {
    await fx.influx.createDatabase('late');
    const [port, http] = [await freePort(), await freePort()];
    const config = join(fx.dir.path, 'late.yaml');
    await writeFile(
      config,
      `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "late/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms }
    pipeline:
      - window: { every: 10s, allowed_lateness: 5s, aggregates: [mean, count], idle: 10m }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: late, batch: { max_age: 50ms } }
spool: { dir: ./spool, sync: always }
log: { level: info }
service: { http: { host: 127.0.0.1, port: ${http} } }
`,
    );
    const spool = async (): Promise<Spool> => (await (await fetch(`http://127.0.0.1:${http}/spool`, { signal: AbortSignal.timeout(2000) })).json()) as Spool;
    const T = Math.floor(Date.now() / 10_000) * 10_000 - 3_600_000; // an hour ago, on the 10 s grid
    const msg = (device: string, at: number, v: number) => ({ topic: `late/${device}/m`, payload: JSON.stringify({ ts: T + at, v }) });
    const points = async (device: string) => {
      const csv = await fx.influx.queryCsv(`SELECT v_mean, v_count FROM m WHERE device = '${device}'`, 'late');
      return csv
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(2).join(','));
    };

    const first = await runDaemon(config);
    const client = await publisher(port);
    try {
      // One after the other, each acknowledged before the next is sent (arrival order = seq order).
      for (const m of [msg('B', 2_500, 10), msg('B', 21_500, 20), msg('A', 22_500, 30), msg('B', 5_500, 99), msg('B', 41_500, 40)])
        await publishAll(client, [m]);
      await waitFor(async () => (await points('B')).length === 2, 10_000, "B's two windows written");
      expect(await points('B')).toEqual([`${T}000000,10,1`, `${T + 20_000}000000,20,1`]);
      // A's window is open: the cursor waits at its record (seq 2).
      await waitFor(async () => (await spool()).outputs[0]?.cursor === 2, 10_000, 'cursor at A');
      // What the kill -9 leaves: the cursor at A saved with its state (a pair is saved about every 1 s).
      await waitFor(async () => (await spool()).outputs[0]?.saved === 2, 10_000, 'the cursor at A saved with its state', 50);
      client.end(true);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = await runDaemon(config);
      expect(second.log()).toMatch(/"cursor":2,.*3 messages in the journal to write/); // the replay starts at A's record
      const again = await publisher(port);
      // A sentinel series after the restart: once its window is written, everything replayed before it is too.
      await publishAll(again, [msg('C', 100_000, 1)]);
      await publishAll(again, [msg('C', 200_000, 2)]);
      await waitFor(async () => (await points('C')).length === 1, 10_000, 'the sentinel written');
      expect(await points('B')).toEqual([`${T}000000,10,1`, `${T + 20_000}000000,20,1`]);
      again.end(true);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.log()).not.toMatch(/"level":(50|60)/);
    } finally {
      client.end(true);
    }
  }, 60_000);
});
