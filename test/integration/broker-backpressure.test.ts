import { afterEach, describe, expect, it } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { EmbeddedBroker, DEFAULT_BROKER_LIMITS } from '../../src/sources/embedded-broker.js';
import { silentLogger } from '../../src/observe/logger.js';
import { Counters } from '../../src/observe/counters.js';
import type { RawMessage } from '../../src/types.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { waitFor } from '../helpers/net.js';

// A held ingest (policy `block` at the quota, a full disk) holds every message unacked. The
// embedded broker then stops reading a connection once it holds maxHeldPerClient of its
// publishes, at the socket: the rest waits in the publisher's TCP buffers, not in our heap.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const N = DEFAULT_BROKER_LIMITS.maxHeldPerClient;

async function startBroker(counters = new Counters()): Promise<EmbeddedBroker> {
  const b = new EmbeddedBroker({ config: { host: '127.0.0.1', port: 0 }, logger: silentLogger(), counters });
  cleanups.push(() => b.stop());
  await b.start();
  return b;
}

/** Every message the broker hands on, kept unacked (the ingest holding them) until `release`. */
function holdAll(b: EmbeddedBroker): { got: RawMessage[]; release: () => void } {
  const got: RawMessage[] = [];
  let holding = true;
  const sub = b.messages().subscribe((m) => {
    got.push(m);
    if (!holding) m.ack();
  });
  cleanups.push(async () => sub.unsubscribe());
  return {
    got,
    release: () => {
      holding = false;
      for (const m of got) m.ack();
    },
  };
}

async function connect(b: EmbeddedBroker, clientId: string): Promise<RawMqtt> {
  const { conn } = await RawMqtt.connect(b.port, { clientId, keepalive: 0 });
  cleanups.push(() => conn.end());
  return conn;
}

/** Two PINGREQ round trips through the broker on another connection: what the broker was going to read by now, it has read. */
async function roundTrips(other: RawMqtt): Promise<void> {
  for (let i = 0; i < 2; i++) {
    other.send({ cmd: 'pingreq' });
    await other.next('pingresp');
  }
}

function publish(conn: RawMqtt, i: number, qos: 0 | 1, payload: Buffer = Buffer.from(`m${i}`)): void {
  const p: Packet = { cmd: 'publish', topic: 'bp', payload: Buffer.concat([Buffer.from(`${i}:`), payload]), qos, retain: false, dup: false };
  conn.send(qos === 1 ? { ...p, messageId: i } : p);
}

const index = (m: RawMessage) => Number(m.payload.subarray(0, m.payload.indexOf(':')).toString());

/** QoS 1 PUBLISH packets 1..total, 100-byte payloads numbered as `index` reads them, to be written at once. */
function burst(total: number): Buffer[] {
  return Array.from({ length: total }, (_, k) =>
    mqttPacket.generate({
      cmd: 'publish',
      topic: 'bp',
      payload: Buffer.from(`${k + 1}:`.padEnd(100, 'x')),
      qos: 1,
      messageId: k + 1,
      retain: false,
      dup: false,
    }),
  );
}

/**
 * Publishes 1..N one at a time, each once the broker has read the one before (a separate
 * read each), then N+1..N+5 the same way: those must not be read while N are held.
 */
async function fillToTheHold(conn: RawMqtt, other: RawMqtt, got: readonly RawMessage[], qos: 0 | 1): Promise<void> {
  for (let i = 1; i <= N; i++) {
    publish(conn, i, qos);
    await waitFor(() => got.length === i || undefined, 5000, `message ${i} at the broker`, 1);
  }
  for (let i = N + 1; i <= N + 5; i++) {
    publish(conn, i, qos);
    await roundTrips(other);
    expect(got.length, `message ${i} was read while ${N} are held`).toBe(N);
  }
}

describe('embedded broker backpressure (a held publisher stops being read)', () => {
  it(`QoS 1 one at a time while every message is held: the broker reads ${N} (maxHeldPerClient), the rest waits in TCP; released, all arrive once, in order`, async () => {
    const counters = new Counters();
    const b = await startBroker(counters);
    const { got, release } = holdAll(b);
    const conn = await connect(b, 'one-at-a-time');
    const other = await connect(b, 'other');

    await fillToTheHold(conn, other, got, 1);
    // The window of 1000: the rest sent without waiting, 16 KiB each, until the publisher's socket cannot hand them down.
    const total = 1000;
    const big = Buffer.alloc(16 * 1024, 0x61);
    for (let i = N + 6; i <= total; i++) publish(conn, i, 1, big);
    await waitFor(() => conn.socket.writableLength > 0 || undefined, 5000, "the publisher's socket backed up");
    await roundTrips(other);
    expect(got.length).toBe(N);
    expect(conn.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
    expect(counters.get('broker_reads_paused')).toBe(1);

    release();
    await waitFor(() => got.length >= total || undefined, 30_000, `all ${total} messages`);
    await roundTrips(other);
    expect(got.map(index)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    await waitFor(() => conn.packets.filter((p) => p.cmd === 'puback').length === total || undefined, 10_000, 'every PUBACK');
    expect(conn.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual(
      Array.from({ length: total }, (_, k) => k + 1),
    );
  });

  it(`QoS 0 is bounded the same way: held until the ingest takes it, ${N} per connection, then the socket is not read`, async () => {
    const b = await startBroker();
    const { got, release } = holdAll(b);
    const conn = await connect(b, 'qos0');
    const other = await connect(b, 'other');
    await fillToTheHold(conn, other, got, 0);
    release();
    await waitFor(() => got.length >= N + 5 || undefined, 5000, 'the rest after the release');
    await roundTrips(other);
    expect(got.map(index)).toEqual(Array.from({ length: N + 5 }, (_, k) => k + 1));
  });

  it('a hold longer than the keepalive: aedes drops the unread connection; the client reconnects and resends, its new connection is not read until the held ones are acked; every message arrives', async () => {
    const b = await startBroker();
    const { got, release } = holdAll(b);
    const other = await connect(b, 'other');
    // keepalive 1 s: aedes closes a connection that has sent no packet it handled for 1.5 s.
    const { conn: first } = await RawMqtt.connect(b.port, { clientId: 'sleepy', keepalive: 1 });
    cleanups.push(() => first.end());
    for (let i = 1; i <= N; i++) {
      publish(first, i, 1);
      await waitFor(() => got.length === i || undefined, 5000, `message ${i} at the broker`, 1);
    }
    for (let i = N + 1; i <= N + 5; i++) publish(first, i, 1);
    await first.closed; // a bound: vitest's test timeout

    // The client comes back with its unacked messages, as a QoS 1 client does (dup set).
    const second = await connect(b, 'sleepy');
    for (let i = 1; i <= N + 5; i++)
      second.send({ cmd: 'publish', topic: 'bp', payload: Buffer.from(`${i}:m${i}`), qos: 1, messageId: i, retain: false, dup: true });
    await roundTrips(other);
    expect(got.length, "the new connection was read while the first one's messages are held").toBe(N);

    release(); // the first connection's acks go nowhere; its count drops, the second is read
    await waitFor(() => got.length >= 2 * N + 5 || undefined, 5000, 'the resent messages');
    await waitFor(() => second.packets.filter((p) => p.cmd === 'puback').length === N + 5 || undefined, 5000, 'the PUBACKs of the resent messages');
    await roundTrips(other);
    const all = Array.from({ length: N + 5 }, (_, k) => k + 1);
    // Each message at least once; the resent ones again, only those (QoS 1: at least once).
    expect(got.map(index)).toEqual([...all.slice(0, N), ...all]);
    expect(b.clientCount).toBe(2);
  });

  it('a burst sent at once: the broker stops after the read that reached the bound (at most a socket read, 64 KiB, and a 16 KiB stream buffer of packets more); released, all arrive once, in order', async () => {
    const b = await startBroker();
    const { got, release } = holdAll(b);
    const conn = await connect(b, 'burst');
    const other = await connect(b, 'other');
    const total = 20_000;
    const packets = burst(total);
    const packetBytes = packets[total - 1]!.length;
    conn.socket.write(Buffer.concat(packets));
    await waitFor(() => got.length >= N || undefined, 5000, `${N} messages at the broker`);
    await roundTrips(other);
    await roundTrips(other);
    expect(got.length).toBeLessThanOrEqual(N + Math.ceil((80 * 1024) / packetBytes));
    expect(conn.packets.filter((p) => p.cmd === 'puback')).toEqual([]);

    release();
    await waitFor(() => got.length >= total || undefined, 30_000, `all ${total} messages`);
    await waitFor(() => conn.packets.filter((p) => p.cmd === 'puback').length === total || undefined, 10_000, 'every PUBACK');
    await roundTrips(other);
    expect(got.map(index)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
  });

  it('a fast publisher acked at the end of every turn, as the ingest acks, is never paused, though it has more than the bound in flight', async () => {
    const counters = new Counters();
    const b = await startBroker(counters);
    const got: RawMessage[] = [];
    const turn: RawMessage[] = [];
    const sub = b.messages().subscribe((m) => {
      got.push(m);
      if (turn.length === 0) setImmediate(() => turn.splice(0).forEach((t) => t.ack()));
      turn.push(m);
    });
    cleanups.push(async () => sub.unsubscribe());
    const conn = await connect(b, 'fast');
    const total = 5000;
    conn.socket.write(Buffer.concat(burst(total)));
    await waitFor(() => conn.packets.filter((p) => p.cmd === 'puback').length === total || undefined, 10_000, 'every PUBACK');
    expect(got.map(index)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    expect(counters.get('broker_reads_paused')).toBe(0);
  });
});
