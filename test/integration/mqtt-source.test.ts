import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { firstValueFrom, filter } from 'rxjs';
import type { Socket } from 'node:net';
import { AckBarrier } from '../../src/ingest/ack-barrier.js';
import { DecodedCache } from '../../src/ingest/decoded-cache.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { MemoryJournal } from '../../src/journal/memory-journal.js';
import { MqttSource } from '../../src/sources/mqtt-source.js';
import { Counters } from '../../src/observe/counters.js';
import type { MqttSourceConfig } from '../../src/config/types.js';
import type { RawMessage } from '../../src/types.js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger, silentLogger, type Logger } from '../../src/observe/logger.js';
import { makeCerts } from '../helpers/certs.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/net.js';

let broker: Mosquitto;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  broker = await startMosquitto();
  cleanups.push(() => broker.stop());
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(over: Partial<MqttSourceConfig> = {}): MqttSourceConfig {
  return {
    id: 'ext',
    url: broker.url,
    protocol_version: 4,
    client_id: `edgeflux-test-${randomUUID().slice(0, 8)}`,
    clean: false,
    session_expiry: 3_600_000,
    keepalive: 30_000,
    connect_timeout: 5_000,
    reconnect: { initial: 50, max: 500 },
    subscriptions: [{ topic: 'sensors/#', qos: 1 }],
    ...over,
  };
}

function source(cfg: MqttSourceConfig, logger: Logger = silentLogger()): MqttSource {
  const s = new MqttSource({ config: cfg, logger });
  cleanups.push(() => s.stop());
  return s;
}

/** Subscribes to the source; acks each message at once unless `autoAck` is false. */
function collect(src: MqttSource, autoAck = true): RawMessage[] {
  const got: RawMessage[] = [];
  const sub = src.messages().subscribe((m) => {
    got.push(m);
    if (autoAck) m.ack();
  });
  cleanups.push(async () => sub.unsubscribe());
  return got;
}

async function publisher(protocolVersion: 4 | 5): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0, clientId: `pub-${randomUUID().slice(0, 8)}` });
  cleanups.push(() => c.endAsync(true));
  return c;
}

const texts = (msgs: RawMessage[]) => msgs.map((m) => m.payload.toString());

/**
 * A client subscribed to `witness/#` (outside the sources' `sensors/#`): `after(pub)`
 * publishes a marker through `pub` and resolves once the witness has it. mosquitto hands
 * each publish to its subscribers before it reads the publisher's next one, so what `pub`
 * published before was written to the source's socket before the marker to the witness's,
 * and this process read the source's socket no later: whatever the source would do with
 * those messages (read one it should not, take one twice), it has done by now.
 */
async function witness(protocolVersion: 4 | 5): Promise<{ after(pub: MqttClient): Promise<void> }> {
  const w = await mqtt.connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0, clientId: `witness-${randomUUID().slice(0, 8)}` });
  cleanups.push(() => w.endAsync(true));
  const marks = new Set<string>();
  w.on('message', (_topic, payload) => marks.add(payload.toString()));
  await w.subscribeAsync('witness/#', { qos: 0 });
  let n = 0;
  return {
    async after(pub) {
      const mark = String(n++);
      await pub.publishAsync('witness/mark', mark, { qos: 0 });
      await waitFor(() => marks.has(mark), 5000, 'the witness marker');
    },
  };
}

describe.each([4, 5] as const)('MqttSource on mosquitto, MQTT protocol version %i', (v) => {
  it('emits each publish with its topic, payload, source id and increasing arrival time', async () => {
    const src = source(config({ protocol_version: v }));
    const got = collect(src);
    await src.start();
    const pub = await publisher(v);
    for (let i = 0; i < 5; i++) await pub.publishAsync(`sensors/kitchen/th${i}/climate`, `{"t":${i}}`, { qos: 1 });
    await waitFor(() => got.length === 5, 5000, '5 messages');
    expect(got.map((m) => m.topic)).toEqual([0, 1, 2, 3, 4].map((i) => `sensors/kitchen/th${i}/climate`));
    expect(texts(got)).toEqual([0, 1, 2, 3, 4].map((i) => `{"t":${i}}`));
    expect(got.every((m) => m.sourceId === 'ext' && Buffer.isBuffer(m.payload))).toBe(true);
    for (let i = 1; i < got.length; i++) expect(got[i]!.receivedAt > got[i - 1]!.receivedAt).toBe(true);
  });

  it('holds the PUBACK until ack(): nothing further is read, and an unacked message is redelivered', async () => {
    const cfg = config({ protocol_version: v });
    const src1 = source(cfg);
    const got1 = collect(src1, false);
    await src1.start();
    const pub = await publisher(v);
    const w = await witness(v);
    for (const p of ['a', 'b', 'c']) await pub.publishAsync('sensors/x', p, { qos: 1 });
    await waitFor(() => got1.length >= 1, 5000, 'first message');
    await w.after(pub); // "b" and "c" reached the source's socket
    // One at a time: without the ack of "a", "b" is not even read.
    expect(texts(got1)).toEqual(['a']);
    got1[0]!.ack();
    await waitFor(() => got1.length === 2, 5000, 'second message after ack');
    expect(texts(got1)).toEqual(['a', 'b']);
    await src1.stop(); // "b" was never acked
    got1[1]!.ack(); // after stop: does nothing, throws nothing

    // Same client id: the broker still holds "b" (no PUBACK reached it) and "c".
    const src2 = source(cfg);
    const got2 = collect(src2);
    await src2.start();
    await waitFor(() => got2.length === 2, 5000, 'redelivery');
    expect(texts(got2)).toEqual(['b', 'c']);
    await src2.stop();

    // Everything acked now: a third session gets nothing old.
    const src3 = source(cfg);
    const got3 = collect(src3);
    await src3.start();
    await pub.publishAsync('sensors/x', 'd', { qos: 1 });
    // A message left from before would be sent at the session's start, before "d".
    await waitFor(() => texts(got3).includes('d'), 5000, 'fresh message');
    expect(texts(got3)).toEqual(['d']);
  });

  it('the PUBACKs of one turn leave the socket in one write, and only after the journal write of their messages', async () => {
    const journal = new MemoryJournal({ maxBytes: 1e6, policy: 'block' });
    await journal.open();
    const events: string[] = [];
    const flush = journal.flush.bind(journal);
    journal.flush = () => {
      events.push('journal write');
      return flush();
    };
    const ingest = new Ingest({
      journal,
      decode: (m) => [{ measurement: 'm', tags: {}, fields: { v: m.payload.toString() }, time: m.receivedAt }],
      onBadMessage: () => undefined,
      cache: new DecodedCache(1, 64),
      counters: new Counters(),
      logger: silentLogger(),
    });
    const src = new MqttSource({ config: config({ protocol_version: v }), logger: silentLogger(), ackBarrier: ingest.ackBarrier });
    cleanups.push(() => src.stop());
    const sub = src.messages().subscribe((m) => ingest.accept(m));
    cleanups.push(async () => {
      sub.unsubscribe();
      ingest.stop();
    });
    await src.start();
    const socket = (src as unknown as { client: MqttClient }).client.stream as Socket;
    const write = socket._write.bind(socket);
    const writev = socket._writev!.bind(socket);
    socket._write = (chunk: Buffer, enc, cb) => {
      events.push(`socket write ${chunk.length} B`);
      write(chunk, enc, cb);
    };
    socket._writev = (chunks, cb) => {
      events.push(`socket write ${chunks.reduce((n, c) => n + (c.chunk as Buffer).length, 0)} B`);
      writev(chunks, cb);
    };
    // Ten messages wait in the socket while it is paused; resumed, they are all read in one turn.
    socket.pause();
    const pub = await publisher(v);
    const w = await witness(v);
    await Promise.all(Array.from({ length: 10 }, (_, i) => pub.publishAsync(`sensors/d${i}`, String(i), { qos: 1 })));
    await w.after(pub); // the ten are in the paused socket
    socket.resume();
    await waitFor(() => events.length >= 2, 5000, 'the journal write and the PUBACKs');
    // A sentinel, journaled and acked on its own: a stray write for the ten would come before it.
    await pub.publishAsync('sensors/sentinel', 's', { qos: 1 });
    await waitFor(() => events.length >= 4, 5000, 'the sentinel journaled and acked');
    expect(journal.stats().headSeq).toBe(11);
    expect(events).toEqual(['journal write', 'socket write 40 B', 'journal write', 'socket write 4 B']); // 10 PUBACKs of 4 bytes, in one write(2)
  });

  it('a connection that cannot take more acks (its socket needs to drain) stops reading: the ack waits for the drain, counted as source_paused', async () => {
    const counters = new Counters();
    const src = new MqttSource({ config: config({ protocol_version: v }), logger: silentLogger(), ackBarrier: new AckBarrier(() => undefined), counters });
    cleanups.push(() => src.stop());
    const got = collect(src);
    await src.start();
    const stream = (src as unknown as { client: MqttClient }).client.stream;
    let full = true; // as if the broker had stopped reading our PUBACKs
    Object.defineProperty(stream, 'writableNeedDrain', { configurable: true, get: () => full });
    const pub = await publisher(v);
    const w = await witness(v);
    for (const p of ['a', 'b', 'c']) await pub.publishAsync('sensors/x', p, { qos: 0 });
    await waitFor(() => got.length >= 1, 5000, 'first message');
    await w.after(pub); // "b" and "c" reached the source's socket
    expect(texts(got)).toEqual(['a']); // its ack waits for the drain: nothing further is read
    expect(counters.get('source_paused', { source: 'ext' })).toBe(1);
    full = false;
    stream.emit('drain');
    await waitFor(() => got.length === 3, 5000, 'the rest after the drain');
    expect(texts(got)).toEqual(['a', 'b', 'c']);
    expect(counters.get('source_paused', { source: 'ext' })).toBe(1);
  });

  it('persistent session: QoS 1 messages published while the source is stopped arrive when it starts again', async () => {
    const cfg = config({ protocol_version: v });
    const src1 = source(cfg);
    collect(src1);
    await src1.start();
    expect(src1.subscriptions).toEqual([{ topic: 'sensors/#', qos: 1 }]);
    await src1.stop();

    const pub = await publisher(v);
    for (let i = 0; i < 20; i++) await pub.publishAsync(`sensors/offline/${i}`, String(i), { qos: 1 });

    const src2 = source(cfg);
    const got = collect(src2);
    await src2.start();
    await waitFor(() => got.length === 20, 5000, '20 queued messages');
    expect(texts(got)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('QoS 2: delivered exactly once; PUBREC held until ack, so an unacked message comes again', async () => {
    const cfg = config({ protocol_version: v, subscriptions: [{ topic: 'q2/#', qos: 2 }] });
    const src1 = source(cfg);
    const got1 = collect(src1, false);
    await src1.start();
    const pub = await publisher(v);
    const w = await witness(v);
    await pub.publishAsync('q2/a', 'one', { qos: 2 });
    await pub.publishAsync('q2/a', 'two', { qos: 2 });
    await waitFor(() => got1.length >= 1, 5000, 'first QoS 2 message');
    got1[0]!.ack();
    await waitFor(() => got1.length === 2, 5000, 'second QoS 2 message');
    await w.after(pub); // a second copy of either would have reached the source by now
    expect(texts(got1)).toEqual(['one', 'two']);
    await src1.stop(); // "two" unacked: no PUBREC was sent

    const src2 = source(cfg);
    const got2 = collect(src2);
    await src2.start();
    await waitFor(() => got2.length >= 1, 5000, 'QoS 2 redelivery');
    await pub.publishAsync('q2/a', 'three', { qos: 2 });
    await waitFor(() => got2.length >= 2, 5000, 'third');
    await w.after(pub);
    expect(texts(got2)).toEqual(['two', 'three']);
  });

  it('$share subscription: two sources split one stream, every message exactly once', async () => {
    const share = [{ topic: '$share/edgeflux/sensors/#', qos: 1 as const }];
    const a = source(config({ id: 'a', protocol_version: v, subscriptions: share }));
    const b = source(config({ id: 'b', protocol_version: v, subscriptions: share }));
    const gotA = collect(a);
    const gotB = collect(b);
    await Promise.all([a.start(), b.start()]);
    const pub = await publisher(v);
    const n = 400;
    for (let i = 0; i < n; i++) pub.publish(`sensors/s${i % 7}/v`, String(i), { qos: 1 });
    await waitFor(() => gotA.length + gotB.length >= n, 10_000, `${n} messages across both`);
    // Sentinels through the share until each source has had one: a source gets its share in
    // order, so a copy queued for it before (a message given to both) has arrived by then.
    const isSentinel = (m: RawMessage) => m.topic === 'sensors/sentinel';
    let k = 0;
    await waitFor(
      async () => {
        await pub.publishAsync('sensors/sentinel', `s${k++}`, { qos: 1 });
        return gotA.some(isSentinel) && gotB.some(isSentinel);
      },
      10_000,
      'a sentinel at each source',
    );
    const all = [...texts(gotA.filter((m) => !isSentinel(m))), ...texts(gotB.filter((m) => !isSentinel(m)))];
    expect(all.length).toBe(n);
    expect(new Set(all).size).toBe(n);
    expect(gotA.length).toBeGreaterThan(0);
    expect(gotB.length).toBeGreaterThan(0);
    // The topic is the real publish topic, not the shared filter.
    expect(gotA[0]!.topic).toMatch(/^sensors\/s\d\/v$/);
    expect(gotA.every((m) => m.sourceId === 'a') && gotB.every((m) => m.sourceId === 'b')).toBe(true);
  });

  it('reconnects after the broker restarts on the same port and subscribes again (no session on the new broker)', async () => {
    const src = source(config({ protocol_version: v }));
    const got = collect(src);
    const states: string[] = [];
    const sub = src.status$.subscribe((s) => states.push(s.state));
    cleanups.push(async () => sub.unsubscribe());
    await src.start();
    expect(states.at(-1)).toBe('up');

    const port = broker.port;
    await broker.stop();
    await waitFor(() => states.at(-1) === 'down' || states.at(-1) === 'connecting', 5000, 'down');
    broker = await startMosquitto({ port });
    cleanups.push(() => broker.stop());
    await firstValueFrom(src.status$.pipe(filter((s) => s.state === 'up')));

    const pub = await publisher(v);
    // The SUBACK may trail the CONNACK a little: publish probes until one arrives.
    let i = 0;
    await waitFor(
      async () => {
        await pub.publishAsync('sensors/after-restart', String(i++), { qos: 1 });
        return got.length > 0;
      },
      10_000,
      'a message after the restart',
    );
    expect(got[0]!.topic).toBe('sensors/after-restart');
    expect(states).toContain('down');
  });
});

describe('MqttSource start and stop', () => {
  it('start() resolves while the broker is unreachable, reports down, keeps retrying, and connects once it is there', async () => {
    const port = broker.port;
    await broker.stop();
    const src = source(config({ reconnect: { initial: 50, max: 200 } }));
    const got = collect(src);
    await src.start();
    const down = await firstValueFrom(src.status$);
    expect(down.state).toMatch(/down|connecting/);
    broker = await startMosquitto({ port });
    cleanups.push(() => broker.stop());
    await firstValueFrom(src.status$.pipe(filter((s) => s.state === 'up')));
    const pub = await publisher(4);
    let i = 0;
    await waitFor(
      async () => {
        await pub.publishAsync('sensors/late', String(i++), { qos: 1 });
        return got.length > 0;
      },
      10_000,
      'message once the broker is up',
    );
    expect(got[0]!.topic).toBe('sensors/late');
  });

  it('retries on the capped backoff schedule (virtual time), logs one warn line, and stop() frees every timer', async () => {
    await broker.stop(); // nothing listens on the port now: each attempt is refused at once
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
      const src = new MqttSource({ config: config({ reconnect: { initial: 1000, max: 4000 } }), logger, random: () => 1 });
      const states: string[] = [];
      const sub = src.status$.subscribe((s) => states.push(s.state));
      const attempts = () => states.filter((s) => s === 'connecting').length;
      const ioUntil = async (cond: () => boolean) => {
        const t0 = performance.now();
        while (!cond()) {
          if (performance.now() - t0 > 5000) throw new Error(`timed out; states ${states.join(',')}`);
          await new Promise((r) => setImmediate(r));
        }
      };
      await src.start(); // resolves on the first refusal
      expect(states.slice(-2)).toEqual(['connecting', 'down']);
      for (const delay of [1000, 2000, 4000, 4000, 4000]) {
        const before = attempts();
        await vi.advanceTimersByTimeAsync(delay - 1);
        expect(attempts()).toBe(before);
        await vi.advanceTimersByTimeAsync(1);
        expect(attempts()).toBe(before + 1);
        await ioUntil(() => states.at(-1) === 'down');
      }
      const warns = lines.map((l) => JSON.parse(l) as { level: number }).filter((l) => l.level === 40);
      expect(warns.length).toBe(1);
      await src.stop();
      sub.unsubscribe();
      expect(states.at(-1)).toBe('closed');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stop() completes messages(), reports closed, and is bounded', async () => {
    const src = source(config());
    let completed = false;
    const sub = src.messages().subscribe({ complete: () => (completed = true) });
    cleanups.push(async () => sub.unsubscribe());
    await src.start();
    const t0 = Date.now();
    await src.stop();
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(completed).toBe(true);
    expect((await firstValueFrom(src.status$)).state).toBe('closed');
  });
});

const run = promisify(execFile);

describe('MqttSource with TLS (CA, client certificate) and username/password', () => {
  it('connects over mqtts with mutual TLS and credentials; a wrong password leaves it down, retrying, and is never logged', async () => {
    const dir = await tempDir('edgeflux-tls-');
    cleanups.push(() => dir.cleanup());
    await run('chmod', ['755', dir.path]); // mosquitto reads its files as its own user
    await makeCerts(dir.path);
    await run('mosquitto_passwd', ['-b', '-c', join(dir.path, 'passwd'), 'sensor', 's3cret-pw']);
    await run('chmod', ['644', ...['ca.crt', 'server.crt', 'server.key', 'passwd'].map((f) => join(dir.path, f))]);
    const tls = await startMosquitto({
      extraConfig: [
        `cafile ${join(dir.path, 'ca.crt')}`,
        `certfile ${join(dir.path, 'server.crt')}`,
        `keyfile ${join(dir.path, 'server.key')}`,
        'require_certificate true',
        'allow_anonymous false',
        `password_file ${join(dir.path, 'passwd')}`,
      ],
    });
    cleanups.push(() => tls.stop());
    const pem = (f: string) => readFile(join(dir.path, f), 'utf8');
    const tlsCfg = { ca: await pem('ca.crt'), cert: await pem('client.crt'), key: await pem('client.key'), reject_unauthorized: true };
    const url = `mqtts://127.0.0.1:${tls.port}`;

    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
    const bad = source(
      config({ url, protocol_version: 5, tls: tlsCfg, username: 'sensor', password: 'wrong-pw-42', reconnect: { initial: 50, max: 100 } }),
      logger,
    );
    await bad.start(); // resolves although refused
    const st = await firstValueFrom(bad.status$);
    expect(st.state).toMatch(/down|connecting/);
    await waitFor(() => lines.some((l) => /Not authorized|Bad User Name or Password/i.test(l)), 5000, 'refusal logged');
    await bad.stop();
    expect(lines.join('\n')).not.toContain('wrong-pw-42');

    const good = source(config({ url, protocol_version: 5, tls: tlsCfg, username: 'sensor', password: 's3cret-pw' }), logger);
    const got = collect(good);
    await good.start();
    expect((await firstValueFrom(good.status$)).state).toBe('up');
    const pub = await mqtt.connectAsync(url, { ...tlsCfg, rejectUnauthorized: true, username: 'sensor', password: 's3cret-pw', reconnectPeriod: 0 });
    cleanups.push(() => pub.endAsync(true));
    await pub.publishAsync('sensors/tls', 'secure', { qos: 1 });
    await waitFor(() => got.length === 1, 5000, 'message over TLS');
    expect(got[0]!.payload.toString()).toBe('secure');
    expect(lines.join('\n')).not.toContain('s3cret-pw');
    if (process.env.SHOW_LOGS) console.info(lines.join(''));
  });
});
