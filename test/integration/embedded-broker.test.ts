import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { firstValueFrom } from 'rxjs';
import { EmbeddedBroker } from '../../src/sources/embedded-broker.js';
import { createLogger, silentLogger } from '../../src/observe/logger.js';
import type { RawMessage } from '../../src/types.js';
import { waitFor } from '../helpers/net.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startBroker(host = '127.0.0.1', logger = silentLogger()): Promise<EmbeddedBroker> {
  const b = new EmbeddedBroker({ config: { host, port: 0 }, logger });
  cleanups.push(() => b.stop());
  await b.start();
  return b;
}

function collect(b: EmbeddedBroker, autoAck = true): RawMessage[] {
  const got: RawMessage[] = [];
  const sub = b.messages().subscribe((m) => {
    got.push(m);
    if (autoAck) m.ack();
  });
  cleanups.push(async () => sub.unsubscribe());
  return got;
}

async function client(b: EmbeddedBroker, id?: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { reconnectPeriod: 0, ...(id ? { clientId: id } : {}) });
  c.on('error', () => {});
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** The kinds of the packets `c` receives from now on, in the order they arrive. */
function received(c: MqttClient): string[] {
  const cmds: string[] = [];
  c.on('packetreceive', (p) => cmds.push(p.cmd));
  return cmds;
}

/**
 * A sentinel through the broker to a client subscribed to `sentinel` (whose packets `cmds`
 * logs): another client publishes it, the test acks it as the ingest would (`got`), the
 * broker forwards it, and this resolves once the client has it. Whatever the broker wrote to
 * that client before (a PUBACK it should have held) arrived before it.
 */
async function sentinel(b: EmbeddedBroker, got: RawMessage[], cmds: string[]): Promise<void> {
  const other = await client(b);
  other.publish('sentinel', 's', { qos: 0 });
  const m = await waitFor(() => got.find((g) => g.topic === 'sentinel'), 5000, 'the sentinel at the broker');
  m.ack();
  await waitFor(() => cmds.includes('publish'), 5000, 'the sentinel forwarded');
}

describe('EmbeddedBroker', () => {
  it('binds a free port with port 0 and reports it', async () => {
    const b = await startBroker();
    expect(b.port).toBeGreaterThan(0);
    expect((await firstValueFrom(b.status$)).state).toBe('up');
    const c = await client(b);
    expect(c.connected).toBe(true);
  });

  it('holds the QoS 1 PUBACK until ack()', async () => {
    const b = await startBroker();
    const got = collect(b, false);
    const c = await client(b);
    await c.subscribeAsync('sentinel', { qos: 0 });
    const cmds = received(c);
    let acked = false;
    const done = c.publishAsync('sensors/kitchen/th1/climate', '{"temperature":21.5}', { qos: 1 }).then(() => (acked = true));
    await waitFor(() => got.length === 1, 5000, 'the message');
    expect(got[0]!.topic).toBe('sensors/kitchen/th1/climate');
    expect(got[0]!.payload.toString()).toBe('{"temperature":21.5}');
    expect(got[0]!.sourceId).toBe('broker');
    await sentinel(b, got, cmds);
    expect(cmds).toEqual(['publish']); // the sentinel, no PUBACK before it
    expect(acked).toBe(false);
    got[0]!.ack();
    await done;
    expect(acked).toBe(true);
  });

  it('the PUBACKs of acks given in one turn leave in one socket write, and only after ack()', async () => {
    const b = await startBroker();
    const got = collect(b, false);
    const c = await client(b);
    await c.subscribeAsync('sentinel', { qos: 0 });
    const cmds = received(c);
    const sockets = (b as unknown as { listeners: { sockets: Set<Socket> } }).listeners.sockets;
    expect(sockets.size).toBe(1);
    const raw = [...sockets][0]!;
    let writes = 0;
    const write = raw._write.bind(raw);
    const writev = raw._writev?.bind(raw);
    raw._write = (chunk, enc, cb) => {
      writes++;
      write(chunk, enc, cb);
    };
    if (writev)
      raw._writev = (chunks, cb) => {
        writes++;
        writev(chunks, cb);
      };
    const done = Array.from({ length: 10 }, (_, i) => c.publishAsync(`sensors/d${i}/m`, `{"v":${i}}`, { qos: 1 }));
    await waitFor(() => got.length === 10, 5000, 'the messages');
    await sentinel(b, got, cmds);
    expect(cmds).toEqual(['publish']); // the sentinel: nothing acked, no PUBACK written before it
    writes = 0;
    for (const m of got.slice(0, 10)) m.ack(); // as the ingest does after a journal write
    await Promise.all(done);
    expect(writes).toBe(1); // 10 PUBACKs (30 chunks from aedes) in one write(2)
  });

  it('holds the QoS 2 PUBREC until ack()', async () => {
    const b = await startBroker();
    const got = collect(b, false);
    const c = await client(b);
    await c.subscribeAsync('sentinel', { qos: 0 });
    const cmds = received(c);
    let completed = false;
    const done = c.publishAsync('q2/x', 'two', { qos: 2 }).then(() => (completed = true));
    await waitFor(() => got.length === 1, 5000, 'the message');
    await sentinel(b, got, cmds);
    expect(cmds).toEqual(['publish']); // the sentinel, no PUBREC before it
    expect(completed).toBe(false);
    got[0]!.ack();
    await done;
    expect(got.map((m) => m.payload.toString())).toEqual(['two', 's']);
  });

  it('takes QoS 0 publishes', async () => {
    const b = await startBroker();
    const got = collect(b);
    const c = await client(b);
    for (let i = 0; i < 10; i++) c.publish('sensors/q0', String(i), { qos: 0 });
    await waitFor(() => got.length === 10, 5000, '10 QoS 0 messages');
    expect(got.map((m) => m.payload.toString())).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('still forwards to MQTT subscribers, refuses client $SYS publishes and emits none of its own', async () => {
    const b = await startBroker();
    const got = collect(b);
    const sub = await client(b);
    const seen: string[] = [];
    sub.on('message', (t) => seen.push(t));
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await client(b);
    await pub.publishAsync('sensors/fwd', 'x', { qos: 1 });
    await waitFor(() => seen.includes('sensors/fwd'), 5000, 'forwarded message');
    const bad = await client(b);
    const closed = new Promise<void>((r) => bad.once('close', () => r()));
    bad.publish('$SYS/fake', 'x', { qos: 0 });
    await closed;
    expect(got.map((m) => m.topic)).toEqual(['sensors/fwd']);
  });

  it('messages that arrive before anyone subscribes are held, then delivered', async () => {
    const b = await startBroker();
    const c = await client(b);
    await c.subscribeAsync('sentinel', { qos: 0 });
    const cmds = received(c);
    let acked = false;
    const done = c.publishAsync('sensors/early', 'e', { qos: 1 }).then(() => (acked = true));
    const outlet = (b as unknown as { outlet: { heldCount: number } }).outlet;
    await waitFor(() => outlet.heldCount === 1, 5000, 'the message held at the broker');
    const got = collect(b, false);
    expect(got.map((m) => m.topic)).toEqual(['sensors/early']); // delivered to the first subscriber
    await sentinel(b, got, cmds);
    expect(cmds).toEqual(['publish']); // no PUBACK while it was held, nor since
    expect(acked).toBe(false);
    got[0]!.ack();
    await done;
  });

  it("emits a client's will message when it drops without DISCONNECT", async () => {
    const b = await startBroker();
    const got = collect(b);
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, {
      reconnectPeriod: 0,
      will: { topic: 'sensors/dev1/status', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    c.on('error', () => {});
    c.stream.destroy();
    await waitFor(() => got.length === 1, 5000, 'the will');
    expect(got[0]!.topic).toBe('sensors/dev1/status');
    expect(got[0]!.payload.toString()).toBe('offline');
  });

  it('stop() closes client connections (also one with an unacked publish), completes messages(), and is bounded', async () => {
    const b = await startBroker();
    let completed = false;
    const held: RawMessage[] = [];
    const sub = b.messages().subscribe({ next: (m) => held.push(m), complete: () => (completed = true) });
    cleanups.push(async () => sub.unsubscribe());
    const clients = await Promise.all([client(b), client(b), client(b)]);
    void clients[0]!.publishAsync('sensors/held', 'h', { qos: 1 }).catch(() => {});
    await waitFor(() => held.length === 1, 5000, 'held message');
    const closed = clients.map((c) => new Promise<void>((r) => c.once('close', () => r())));
    const t0 = Date.now();
    await b.stop();
    expect(Date.now() - t0).toBeLessThan(2500);
    await Promise.all(closed);
    expect(clients.every((c) => !c.connected)).toBe(true);
    expect(completed).toBe(true);
    expect((await firstValueFrom(b.status$)).state).toBe('closed');
    expect(() => b.port).toThrow(/not listening/);
    held[0]!.ack(); // too late: does nothing, throws nothing
  });

  it('warns when bound beyond loopback without authentication', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    await startBroker('0.0.0.0', logger);
    const warns = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    expect(warns.length).toBe(1);
    expect(warns[0]!.msg).toMatch(/anonymous/);
  });

  it('10,000 QoS 1 messages from 5 clients: each arrives exactly once', async () => {
    const b = await startBroker();
    const got = collect(b);
    const perClient = 2000;
    const clients = await Promise.all([0, 1, 2, 3, 4].map((i) => client(b, `dev-${i}`)));
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c, i) => {
        const sends: Promise<unknown>[] = [];
        for (let n = 0; n < perClient; n++) sends.push(c.publishAsync(`sensors/dev${i}/m`, `${i}:${n}`, { qos: 1 }));
        await Promise.all(sends); // every PUBACK received
      }),
    );
    const ms = performance.now() - t0;
    const payloads = got.map((m) => m.payload.toString());
    expect(payloads.length).toBe(5 * perClient);
    expect(new Set(payloads).size).toBe(5 * perClient);
    // Per client, in publish order.
    for (let i = 0; i < 5; i++) {
      const mine = payloads.filter((p) => p.startsWith(`${i}:`)).map((p) => Number(p.split(':')[1]));
      expect(mine).toEqual(Array.from({ length: perClient }, (_, n) => n));
    }
    console.info(
      `embedded broker: ${5 * perClient} QoS 1 messages, ack to PUBACK, in ${ms.toFixed(0)} ms = ${Math.round((5 * perClient) / (ms / 1000))} msg/s`,
    );
  });
});
