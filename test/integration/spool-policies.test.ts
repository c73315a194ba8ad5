import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';
import { startAckedPublisher } from '../helpers/acked-publisher.js';
import { DEFAULT_BROKER_LIMITS } from '../../src/sources/embedded-broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

// The spool's policies against a real influxd: a dead output beside a live one, the quota
// under drop-oldest and block while InfluxDB is down, and memory mode.

const fx = influxdPerFile();

function output(id: string, url: string, db: string): string {
  return `  - { id: ${id}, type: influxdb_v1, url: "${url}", database: ${db}, batch: { max_age: 100ms }, retry: { initial: 100ms, max: 500ms } }\n`;
}

function config(name: string, outputs: string, spool: string): string {
  return `
broker: { port: 0 }
rules:
  - topic: "t/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms, integers: [n] }
outputs:
${outputs}spool: { dir: ${join(fx.dir.path, name + '-spool')}, ${spool} }
dead_letter: { path: ${join(fx.dir.path, name + '-dead.jsonl')} }
shutdown_timeout: 2s
`;
}

const BASE = Date.UTC(2024, 0, 1);
/** Reading n: its own event time, so that a duplicate would collapse and a loss would show. */
const reading = (n: number, payloadPad = 0) => ({ topic: 't/d1/m', payload: JSON.stringify({ n, ts: BASE + n, pad: 'x'.repeat(payloadPad) }) });
/** Letters that differ from message to message: the journal cannot code them against the topic's first payload. */
const noise = (n: number, len: number): string =>
  Array.from({ length: len }, (_, k) => String.fromCharCode(97 + (Math.imul(n * 131 + k, 0x9e3779b1) >>> 27))).join('');
const readings = (from: number, count: number, pad = 0) => Array.from({ length: count }, (_, i) => reading(from + i, pad));

async function storedNs(db: string): Promise<number[]> {
  return fx.influx.numbers('SELECT n FROM m', db);
}

describe('spool: outputs lag on their own cursors', () => {
  it('a dead output does not hold the live one back, keeps its cursor, and gets everything once it lives', async () => {
    await fx.influx.createDatabase('live');
    await fx.influx.createDatabase('later');
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const first = await startDaemon(config('two', output('live', fx.influx.url, 'live') + output('dead', deadUrl, 'later'), 'max_bytes: 64MiB'), fx.dir.path);
    const N = 5000;
    try {
      const c = await publisher(first.daemon.brokerPort!);
      await publishAll(c, readings(0, N));
      await c.endAsync();
      await waitFor(async () => (await fx.influx.count('live', 'm')) === N, 10_000, 'the live output has everything');
      // The cursor moves once the write's answer is taken in, a moment after influxd counts the points.
      await waitFor(() => first.daemon.spoolStatus()!.outputs.find((o) => o.id === 'live')?.cursor === N, 5000, "the live output's cursor at the end");
      const st = first.daemon.spoolStatus()!;
      expect(st.outputs.find((o) => o.id === 'live')).toMatchObject({ state: 'up', cursor: N, behind: 0 });
      expect(st.outputs.find((o) => o.id === 'dead')).toMatchObject({ state: 'down', cursor: 0, behind: N });
      expect(st.journal.oldestSeq).toBe(0); // not deleted under the dead output
    } finally {
      expect(await first.daemon.stop()).toBe(true); // durable: nothing is lost, the rest waits on disk
    }
    // Next start: the same output now reaches InfluxDB and replays its whole backlog.
    const second = await startDaemon(
      config('two', output('live', fx.influx.url, 'live') + output('dead', fx.influx.url, 'later'), 'max_bytes: 64MiB'),
      fx.dir.path,
    );
    try {
      await waitFor(async () => (await fx.influx.count('later', 'm')) === N, 15_000, 'the revived output has everything');
      expect(await fx.influx.count('live', 'm')).toBe(N); // the live one wrote nothing twice (its cursor was at the head)
      expect(second.daemon.counters.get('points_written', { output: 'live' })).toBe(0);
      expect(second.log.text()).toMatch(/output dead: 5000 messages in the journal to write/);
      // The start line counts what each output has yet to write, not the journal's total.
      expect(second.log.text()).toMatch(/spool: durable mode, unwritten messages: live 0, dead 5000\b/);
      expect(second.log.text()).not.toMatch(/5000 messages in the journal"/);
    } finally {
      expect(await second.daemon.stop()).toBe(true);
    }
  });
});

describe('spool: the quota while InfluxDB is down', () => {
  it('drop-oldest: the oldest are dropped, counted exactly, the newest kept, the daemon healthy', async () => {
    await fx.influx.createDatabase('quota');
    const { daemon } = await startDaemon(config('quota', output('local', fx.influx.url, 'quota'), 'max_bytes: 128KiB, segment_bytes: 16KiB'), fx.dir.path);
    const N = 20_000; // about 1.1 MB of journal (format 2) for a 128 KiB quota
    try {
      const c = await publisher(daemon.brokerPort!);
      await fx.influx.pause();
      await publishAll(c, readings(0, N)); // every one acknowledged: drop-oldest never refuses
      const st = daemon.spoolStatus()!;
      expect(st.journal.bytes).toBeLessThanOrEqual(128 * 1024 + 16 * 1024);
      expect(st.journal.dropped).toBeGreaterThan(N / 2);
      await fx.influx.resume();
      await waitFor(() => daemon.spoolStatus()!.outputs[0]!.behind === 0, 20_000, 'the backlog written');
      const stored = await storedNs('quota');
      const dropped = daemon.counters.get('messages_dropped', { output: 'local', reason: 'quota' });
      // What the drain had read before the quota dropped it is written, not dropped: up to
      // a batch in flight, one waiting (5000 each) and a read, besides the ~2000 the quota
      // keeps; how much of that it reads in time depends on the machine's load.
      expect(dropped).toBeGreaterThan(N / 4);
      expect(stored.length + dropped).toBe(N); // exact: every reading is stored or counted
      expect(new Set(stored).size).toBe(stored.length);
      const newest = stored.filter((n) => n >= N - 1000);
      expect(newest).toHaveLength(1000); // the newest survive
      // Healthy afterwards.
      await publishAll(c, readings(N, 10));
      await waitFor(async () => (await fx.influx.count('quota', 'm')) === stored.length + 10, 5000, 'new readings');
      await c.endAsync();
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
  });

  it('block: publishes stop being acknowledged at the quota and resume when the output comes back; nothing is lost', async () => {
    await fx.influx.createDatabase('block');
    const { daemon } = await startDaemon(
      config('block', output('local', fx.influx.url, 'block'), 'max_bytes: 256KiB, segment_bytes: 32KiB, policy: block'),
      fx.dir.path,
    );
    const N = 6000; // each ≈ 150 bytes journaled (the pad is noise): about 900 KB, over three times the quota
    const pub = startAckedPublisher({
      port: daemon.brokerPort!,
      limit: N,
      window: 100,
      message: (n) => ({ topic: 't/d1/m', payload: JSON.stringify({ n, ts: BASE + n, pad: noise(n, 100) }) }),
    });
    try {
      await fx.influx.pause();
      // Acks stop below N and stay stopped.
      let last = -1;
      await waitFor(
        async () => {
          const now = pub.acked.size;
          const still = now === last && now > 0;
          last = now;
          return still;
        },
        20_000,
        'acknowledgements to stop',
        1000,
      );
      const blocked = pub.acked.size;
      expect(blocked).toBeLessThan(N);
      expect(daemon.spoolStatus()!.holding).toBeGreaterThan(0);
      expect(daemon.spoolStatus()!.journal.dropped).toBe(0);
      await fx.influx.resume();
      await waitFor(() => pub.acked.size === N, 30_000, 'every publish acknowledged');
      await waitFor(async () => (await fx.influx.count('block', 'm')) === N, 20_000, 'every reading stored').catch(async (e: unknown) => {
        const stored = new Set(await storedNs('block'));
        const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !stored.has(i));
        throw new Error(`${String(e)}; missing ${missing.length}: ${missing.slice(0, 10).join(', ')}…`);
      });
      process.stderr.write(
        `spool block: acknowledgements stopped at ${blocked} of ${N} while InfluxDB was down, all ${N} acknowledged and stored after it came back\n`,
      );
      expect((await storedNs('block')).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(daemon.counters.total('messages_dropped') + daemon.counters.total('points_dropped')).toBe(0);
    } finally {
      await pub.close();
      expect(await daemon.stop()).toBe(true);
    }
  });
});

describe('spool: block holds a bounded number per embedded-broker client', () => {
  it(`block, a sensor publishing one at a time without waiting for PUBACKs: the ingest holds ${DEFAULT_BROKER_LIMITS.maxHeldPerClient} (maxHeldPerClient), the rest waits at the sensor; all stored after`, async () => {
    const N = DEFAULT_BROKER_LIMITS.maxHeldPerClient;
    await fx.influx.createDatabase('blockone');
    const { daemon } = await startDaemon(
      config('blockone', output('local', fx.influx.url, 'blockone'), 'max_bytes: 256KiB, segment_bytes: 32KiB, policy: block'),
      fx.dir.path,
    );
    const { conn } = await RawMqtt.connect(daemon.brokerPort!, { clientId: 'sensor', keepalive: 0 });
    const { conn: other } = await RawMqtt.connect(daemon.brokerPort!, { clientId: 'other', keepalive: 0 });
    const send = (n: number) =>
      conn.send({
        cmd: 'publish',
        topic: 't/d1/m',
        payload: Buffer.from(JSON.stringify({ n, ts: BASE + n, pad: noise(n, 100) })),
        qos: 1,
        messageId: n + 1,
        retain: false,
        dup: false,
      });
    const pubacks = () => conn.packets.filter((p) => p.cmd === 'puback').length;
    /** What the broker was going to read by now, it has read (and the ingest has taken or held). */
    const roundTrip = async () => {
      other.send({ cmd: 'pingreq' });
      await other.next('pingresp');
    };
    try {
      await fx.influx.pause();
      // Up to the quota, each acknowledged before the next.
      let n = 0;
      for (; n < 20_000; n++) {
        send(n);
        const acked = await waitFor(() => pubacks() > n || undefined, 2000, `the PUBACK of ${n}`, 1).then(
          () => true,
          () => false,
        );
        if (!acked) break;
      }
      expect(daemon.spoolStatus()!.holding).toBe(1);
      // Then one at a time, none acknowledged any more.
      const more = 2 * N;
      for (let k = 1; k <= more; k++) {
        send(n + k);
        await roundTrip();
        await roundTrip();
      }
      expect(daemon.spoolStatus()!.holding).toBe(N);
      expect(daemon.counters.total('broker_reads_paused')).toBe(1);
      const total = n + more + 1;

      await fx.influx.resume();
      await waitFor(() => pubacks() === total || undefined, 30_000, 'every publish acknowledged');
      await waitFor(async () => (await fx.influx.count('blockone', 'm')) === total, 20_000, 'every reading stored');
      expect((await storedNs('blockone')).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    } finally {
      await conn.end();
      await other.end();
      expect(await daemon.stop()).toBe(true);
    }
  });
});

describe('spool: memory mode', () => {
  it('acknowledges on receipt, stays bounded, writes nothing to disk, delivers after an outage', async () => {
    await fx.influx.createDatabase('mem');
    const spoolDir = join(fx.dir.path, 'mem-spool');
    const { daemon } = await startDaemon(config('mem', output('local', fx.influx.url, 'mem'), 'mode: memory, max_bytes: 64KiB'), fx.dir.path);
    try {
      const c = await publisher(daemon.brokerPort!);
      await fx.influx.pause();
      await publishAll(c, readings(0, 5000)); // all acknowledged while InfluxDB is down
      const st = daemon.spoolStatus()!;
      expect(st.mode).toBe('memory');
      expect(st.journal.bytes).toBeLessThanOrEqual(64 * 1024);
      expect(st.journal.dropped).toBeGreaterThan(0);
      await fx.influx.resume();
      await waitFor(() => daemon.spoolStatus()!.outputs[0]!.behind === 0, 15_000, 'the backlog written');
      const stored = await storedNs('mem');
      expect(stored.length + daemon.counters.get('messages_dropped', { output: 'local', reason: 'quota' })).toBe(5000);
      expect(stored).toContain(4999);
      await c.endAsync();
    } finally {
      expect(await daemon.stop()).toBe(true);
    }
    expect(existsSync(spoolDir)).toBe(false);
  });

  it('a stop while InfluxDB is down loses what memory held, counts it and says so', async () => {
    await fx.influx.createDatabase('memstop');
    const { daemon, log } = await startDaemon(config('memstop', output('local', fx.influx.url, 'memstop'), 'mode: memory'), fx.dir.path);
    const c = await publisher(daemon.brokerPort!);
    await fx.influx.pause();
    try {
      await publishAll(c, readings(0, 100));
      await c.endAsync();
      expect(await daemon.stop()).toBe(false);
      expect(daemon.counters.get('messages_dropped', { output: 'local', reason: 'shutdown' })).toBe(100);
      expect(log.text()).toMatch(/memory mode: they are lost/);
    } finally {
      await fx.influx.resume();
    }
  });
});
