import { readFileSync } from 'node:fs';
import { Duplex, Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ClassicLevel } from 'classic-level';
import AsyncMemoryPersistence from 'aedes-persistence/asyncPersistence.js';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import '../../src/sources/mqtt-wire.js';
import {
  AEDES_PERSISTENCE_LEVEL_VERIFIED,
  AEDES_PERSISTENCE_VERIFIED,
  AEDES_VERIFIED,
  CONNECT_TIMEOUT_MESSAGE,
  KEEPALIVE_TIMEOUT_FACTOR,
  PERSISTENCE_STREAM_METHODS,
  afterAckWrites,
  connectionOf,
  holdEachPublish,
  isConnectTimeout,
  loadLevelPersistence,
  memoryPersistence,
  holdReads,
  replaceOutgoingQueue,
  retainedMessages,
  sameShapeAs,
  type AedesPersistence,
} from '../../src/sources/broker/aedes-internals.js';
import { tempDir, waitFor } from '../helpers/net.js';

// Pins the embedded broker's reaches past aedes' documented API (src/sources/broker/aedes-internals.ts)
// to the versions they were checked against, and checks each relied-on behaviour against the
// installed aedes and persistence packages, with in-process brokers over in-memory connections.

const ADAPTER = 'src/sources/broker/aedes-internals.ts';

function installed(pkg: string): string {
  const { version } = JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string };
  return version.split('.').slice(0, 2).join('.');
}

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function broker(opts: Partial<AedesOptions> = {}): Promise<Aedes> {
  const b = await Aedes.createBroker(opts);
  cleanups.push(() => new Promise<void>((r) => b.close(() => r())));
  return b;
}

/** An in-memory connection handed to aedes: `send` gives aedes a packet; what aedes writes is kept chunk by chunk. */
class Pipe extends Duplex {
  readonly chunks: Buffer[] = [];
  readonly packets: Packet[] = [];
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });

  constructor() {
    super();
    this.parser.on('packet', (p: Packet) => this.packets.push(p));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    this.parser.parse(chunk);
    cb();
  }

  send(packet: Packet): void {
    this.push(mqttPacket.generate(packet));
  }

  /** The first packet of this kind (with this payload) received. */
  next(cmd: Packet['cmd'], what: string, payload?: string): Promise<Packet> {
    const match = (p: Packet) => p.cmd === cmd && (payload === undefined || (p.cmd === 'publish' && p.payload.toString() === payload));
    return waitFor(() => this.packets.find(match), 5000, what);
  }
}

async function connected(b: Aedes, clientId: string, clean = true): Promise<Pipe> {
  const pipe = new Pipe();
  cleanups.push(async () => pipe.destroy());
  b.handle(pipe);
  pipe.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 });
  await pipe.next('connack', `the CONNACK of ${clientId}`);
  return pipe;
}

function publish(topic: string, messageId: number): Packet {
  return { cmd: 'publish', topic, payload: Buffer.from(`m${messageId}`), qos: 1, messageId, dup: false, retain: false };
}

/** The own methods of a persistence class's prototype (accessors left out). */
function methodsOf(proto: object): Map<string, (...a: never[]) => unknown> {
  const out = new Map<string, (...a: never[]) => unknown>();
  for (const name of Object.getOwnPropertyNames(proto)) {
    const v: unknown = Object.getOwnPropertyDescriptor(proto, name)?.value;
    if (name !== 'constructor' && typeof v === 'function') out.set(name, v as (...a: never[]) => unknown);
  }
  return out;
}

async function levelDb(): Promise<ClassicLevel<string, string>> {
  const dir = await tempDir('edgeflux-aedes-internals-');
  const db = new ClassicLevel<string, string>(dir.path);
  await db.open();
  cleanups.push(dir.cleanup, () => db.close());
  return db;
}

describe('aedes-internals (the aedes reaches, pinned)', () => {
  it.each([
    ['aedes', AEDES_VERIFIED],
    ['aedes-persistence', AEDES_PERSISTENCE_VERIFIED],
    ['aedes-persistence-level', AEDES_PERSISTENCE_LEVEL_VERIFIED],
  ])(`%s is the version the reaches were checked against (%s.x): re-check ${ADAPTER} before moving it`, (pkg, verified) => {
    expect(installed(pkg), `${pkg} moved: re-check ${ADAPTER} against its sources, then update the version there`).toBe(verified);
  });

  it('aedes and aedes-persistence-level use the one aedes-persistence that edgeflux imports', () => {
    const ours = import.meta.resolve('aedes-persistence/asyncPersistence.js');
    expect(import.meta.resolve('aedes-persistence/asyncPersistence.js', import.meta.resolve('aedes'))).toBe(ours);
    expect(import.meta.resolve('aedes-persistence/asyncPersistence.js', import.meta.resolve('aedes-persistence-level/asyncPersistence.js'))).toBe(ours);
  });

  it.each([
    ['aedes-persistence', AsyncMemoryPersistence.prototype],
    ['aedes-persistence-level', AsyncLevelPersistence.prototype],
  ])('%s: the methods that are not async functions are exactly PERSISTENCE_STREAM_METHODS; setup and the replaced queue methods are async', (_pkg, proto) => {
    const methods = methodsOf(proto);
    const notAsync = [...methods].filter(([, fn]) => fn.constructor.name !== 'AsyncFunction').map(([name]) => name);
    expect(notAsync.sort()).toEqual([...PERSISTENCE_STREAM_METHODS].map(String).sort());
    for (const name of ['setup', 'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingClearMessageId']) {
      expect(methods.get(name)?.constructor.name, name).toBe('AsyncFunction');
    }
  });

  it('the stream methods answer with a Readable (in memory and over LevelDB)', async () => {
    const calls: [string, unknown[]][] = [
      ['createRetainedStream', ['#']],
      ['createRetainedStreamCombi', [['#']]],
      ['outgoingStream', [{ id: 'c' }]],
      ['streamWill', [{}]],
      ['getClientList', ['t']],
    ];
    expect(calls.map(([name]) => name).sort()).toEqual([...PERSISTENCE_STREAM_METHODS].map(String).sort());
    for (const p of [memoryPersistence(), (await loadLevelPersistence())((await levelDb()).sublevel('aedes'))]) {
      for (const [name, args] of calls) {
        const answer: unknown = (Reflect.get(p, name) as (...a: unknown[]) => unknown).apply(p, args);
        expect(answer, name).toBeInstanceOf(Readable);
        (answer as Readable).destroy();
      }
    }
  });

  it('retainedMessages: each retained message with its payload as bytes (in memory and over LevelDB)', async () => {
    for (const p of [memoryPersistence(), (await loadLevelPersistence())((await levelDb()).sublevel('aedes'))]) {
      const store = Reflect.get(p, 'storeRetained') as (packet: object) => Promise<void>;
      await store.call(p, { cmd: 'publish', topic: 'home/lamp', payload: Buffer.from('on'), qos: 0, retain: true, brokerId: 'b', brokerCounter: 1 });
      const got: { topic: string; payload: Buffer }[] = [];
      for await (const m of retainedMessages(p)) got.push(m);
      expect(got).toEqual([{ topic: 'home/lamp', payload: Buffer.from('on') }]);
    }
  });

  it("aedes refuses a persistence whose setup is not an async function; sameShapeAs keeps a wrapper's shape", async () => {
    const wrap = (p: AedesPersistence, shaped: boolean): AedesPersistence =>
      new Proxy(p, {
        get: (target, key) => {
          const v: unknown = Reflect.get(target, key);
          if (typeof v !== 'function') return v;
          const method = v as (...a: unknown[]) => unknown;
          return shaped ? sameShapeAs(method, (args) => method.apply(target, args)) : (...args: unknown[]) => method.apply(target, args);
        },
      });
    await expect(Aedes.createBroker({ persistence: wrap(memoryPersistence(), false) })).rejects.toThrow('persistence.setup() must be an async function');
    const b = await broker({ persistence: wrap(memoryPersistence(), true) });
    await connected(b, 'through-the-wrapper');
  });

  it('aedes calls the queue methods of broker.persistence that replaceOutgoingQueue put there', async () => {
    const p = memoryPersistence();
    const own = { enqueue: p.outgoingEnqueue.bind(p), combi: p.outgoingEnqueueCombi.bind(p), clear: p.outgoingClearMessageId.bind(p) };
    const calls: string[] = [];
    replaceOutgoingQueue(p, {
      outgoingEnqueue: (sub, packet) => (calls.push('outgoingEnqueue'), own.enqueue(sub, packet)),
      outgoingEnqueueCombi: (subs, packet) => (calls.push('outgoingEnqueueCombi'), own.combi(subs, packet)),
      outgoingClearMessageId: (client, packet) => (calls.push('outgoingClearMessageId'), own.clear(client, packet)),
    });
    const b = await broker({ persistence: p });

    // A persistent session goes away; a QoS 1 message for it is queued (aedes.js forward).
    const away = await connected(b, 'away', false);
    away.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 1 }] });
    await away.next('suback', 'the SUBACK');
    const gone = new Promise<void>((r) => b.once('clientDisconnect', () => r()));
    away.push(null);
    await gone;
    const publisher = await connected(b, 'publisher');
    publisher.send(publish('t', 1));
    await publisher.next('puback', 'the PUBACK');
    await waitFor(() => calls.includes('outgoingEnqueueCombi'), 5000, 'outgoingEnqueueCombi');

    // Back again: the queued message is delivered, and its PUBACK clears it (handlers/puback.js).
    const client = new Promise<Client>((r) => b.once('client', r));
    const back = await connected(b, 'away', false);
    const delivered = await back.next('publish', 'the queued message');
    back.send({ cmd: 'puback', messageId: delivered.messageId! });
    await waitFor(() => calls.includes('outgoingClearMessageId'), 5000, 'outgoingClearMessageId');

    // A QoS 1 message sent to the session through aedes' Client#publish is queued first (lib/client.js).
    const sent = new Promise<void>(
      (resolve, reject) =>
        void client.then((c) =>
          c.publish({ cmd: 'publish', topic: 't', payload: Buffer.from('direct'), qos: 1, retain: false, dup: false }, (err) =>
            err ? reject(err) : resolve(),
          ),
        ),
    );
    await waitFor(() => calls.includes('outgoingEnqueue'), 5000, 'outgoingEnqueue');
    back.send({ cmd: 'puback', messageId: (await back.next('publish', 'the direct message', 'direct')).messageId! });
    await sent;
  });

  it('a connection that sends no CONNECT: aedes emits connectionError with the text isConnectTimeout knows', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const b = await broker({ connectTimeout: 1000 });
    const errors: Error[] = [];
    b.on('connectionError', (_client, err) => errors.push(err));
    const pipe = new Pipe();
    cleanups.push(async () => pipe.destroy());
    b.handle(pipe);
    await vi.advanceTimersByTimeAsync(999);
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(errors.map((e) => e.message)).toEqual([CONNECT_TIMEOUT_MESSAGE]);
    expect(isConnectTimeout(errors[0]!)).toBe(true);
  });

  it('holdEachPublish: aedes asks before it writes anything, and the PUBACK waits for the ack; connectionOf is the handed-over stream', async () => {
    let ack: ((err?: Error | null) => void) | undefined;
    let writtenWhenAsked = -1;
    let conn: object | undefined;
    const pipe = new Pipe();
    const b = await broker(
      holdEachPublish((client, _packet, a) => {
        writtenWhenAsked = pipe.chunks.length;
        conn = client === null ? undefined : connectionOf(client);
        ack = a;
      }),
    );
    cleanups.push(async () => pipe.destroy());
    b.handle(pipe);
    pipe.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'held', keepalive: 0 });
    await pipe.next('connack', 'the CONNACK');
    const before = pipe.chunks.length;
    pipe.send(publish('t', 7));
    const release = await waitFor(() => ack, 5000, 'authorizePublish');
    expect(writtenWhenAsked).toBe(before);
    expect(conn).toBe(pipe);

    // A round trip on another connection as a sentinel: no PUBACK while the ack is held.
    await connected(b, 'sentinel');
    expect(pipe.chunks.length).toBe(before);

    release(null);
    expect(pipe.chunks.length).toBe(before); // mqtt-packet corks the stream until nextTick
    await new Promise<void>((r) => afterAckWrites(r));
    // The PUBACK reached the stream by then, as three writes (type, length, message id).
    expect(pipe.chunks.slice(before, before + 3).map((c) => [...c])).toEqual([[0x40], [0x02], [0x00, 0x07]]);
    expect(pipe.packets.filter((p) => p.cmd !== 'connack').map((p) => p.cmd)).toEqual(['puback']);
  });

  it('a held PUBLISH does not stop aedes reading what the client sends after it (no flow control by the ack)', async () => {
    // aedes 1.2 counts the packets of a read it is still handling, but every 'readable' event of
    // the connection also counts one down (lib/client.js nextBatch), so a packet that arrives
    // after a read that emptied the buffer is read and handled at once. If this fails, aedes now
    // holds a client's reading: the embedded broker's flow control could rest on the ack, as
    // mqtt.js' does (and the comments in aedes-internals.ts and embedded-broker.ts change).
    const held: number[] = [];
    const b = await broker(holdEachPublish((_client, packet) => void held.push(packet.messageId!)));
    const pipe = await connected(b, 'eager');
    pipe.send(publish('t', 1));
    await waitFor(() => held.length === 1, 5000, 'the first PUBLISH');
    pipe.send(publish('t', 2));
    pipe.send({ cmd: 'pingreq' });
    await waitFor(() => held.length === 2, 5000, 'the second PUBLISH, read while the first is held');
    await pipe.next('pingresp', 'the PINGRESP, while both are held');
    expect(pipe.packets.map((p) => p.cmd)).toEqual(['connack', 'pingresp']);
  });

  it('holdReads: a paused connection is not read (what it sends waits in its buffer); resumed, aedes reads it; a chunk refused by inspect is not parsed', async () => {
    const seen: number[] = [];
    const b = await broker(holdEachPublish((_client, packet, ack) => (seen.push(packet.messageId!), ack(null))));
    const pipe = await connected(b, 'held-reads');
    let refuse = false;
    const inspected: number[] = [];
    const hold = holdReads(pipe, (chunk) => (inspected.push(chunk.length), !refuse));
    expect(hold.pause()).toBe(true);
    expect(hold.pause()).toBe(false); // paused already
    pipe.send(publish('t', 1));
    pipe.send(publish('t', 2));
    await connected(b, 'sentinel'); // a round trip on another connection
    expect(seen).toEqual([]);
    expect(inspected).toEqual([]);
    expect(pipe.readableLength).toBeGreaterThan(0); // unread, in the connection's buffer
    hold.resume();
    expect(seen).toEqual([]); // read on the next tick, not inside resume()
    await waitFor(() => seen.length === 2, 5000, 'both publishes, read once resumed');
    expect(seen).toEqual([1, 2]);
    expect(inspected.length).toBeGreaterThan(0);
    await pipe.next('puback', 'the PUBACKs');

    refuse = true;
    pipe.send(publish('t', 3));
    await connected(b, 'sentinel-2');
    expect(seen).toEqual([1, 2]); // inspected, refused, never parsed
  });

  it('a client that sends nothing is closed after KEEPALIVE_TIMEOUT_FACTOR × its keepalive; "client" comes before its CONNACK', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const b = await broker();
    const pipe = new Pipe();
    cleanups.push(async () => pipe.destroy());
    let written = -1;
    b.on('client', () => (written = pipe.packets.length));
    const timeouts: string[] = [];
    b.on('keepaliveTimeout', (client) => timeouts.push(client.id));
    b.handle(pipe);
    pipe.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'quiet', keepalive: 2 });
    // setTimeout is fake here (waitFor's polling too): aedes' connect runs on promises and setImmediate.
    for (let i = 0; i < 1000 && !pipe.packets.some((p) => p.cmd === 'connack'); i++) await new Promise((r) => setImmediate(r));
    expect(pipe.packets.map((p) => p.cmd)).toEqual(['connack']);
    expect(written).toBe(0);
    await vi.advanceTimersByTimeAsync(2000 * KEEPALIVE_TIMEOUT_FACTOR - 1);
    expect(timeouts).toEqual([]);
    expect(pipe.destroyed).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    expect(timeouts).toEqual(['quiet']);
    expect(pipe.destroyed).toBe(true);
  });
});
