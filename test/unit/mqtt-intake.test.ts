import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { IPublishPacket, MqttClient, Packet } from 'mqtt';
import { HoldingStore, MqttIntake } from '../../src/sources/mqtt-intake.js';
import { MessageOutlet } from '../../src/sources/source.js';
import { AckBarrier } from '../../src/ingest/ack-barrier.js';
import { Counters } from '../../src/observe/counters.js';
import { systemClock } from '../../src/clock.js';
import type { RawMessage } from '../../src/types.js';

const publish = (messageId: number, qos: 0 | 1 | 2, payload: string | Buffer = 'x'): IPublishPacket => ({
  cmd: 'publish',
  messageId,
  qos,
  dup: false,
  retain: false,
  topic: `t/${messageId}`,
  payload,
});

function intake(opts: { stream?: PassThrough; barrier?: AckBarrier; counters?: Counters } = {}) {
  const outlet = new MessageOutlet('ext');
  const got: RawMessage[] = [];
  outlet.messages$.subscribe((m) => got.push(m));
  const i = new MqttIntake({
    sourceId: 'ext',
    outlet,
    clock: systemClock(() => 1_700_000_000_000),
    ackBarrier: opts.barrier,
    counters: opts.counters,
    stream: () => opts.stream as unknown as MqttClient['stream'] | undefined,
  });
  return { i, got };
}

describe('MqttIntake: each PUBLISH becomes a message whose ack reaches mqtt.js', () => {
  it('emits topic, payload (a string payload as bytes), source id and arrival time; ack() calls back once', () => {
    const { i, got } = intake();
    let acks = 0;
    i.onPublish(publish(1, 1, '{"t":1}'), () => acks++);
    expect(got).toHaveLength(1);
    const m = got[0]!;
    expect([m.sourceId, m.topic, m.payload.toString(), m.receivedAt, m.ackGated]).toEqual(['ext', 't/1', '{"t":1}', 1_700_000_000_000_000_000n, false]);
    expect(Buffer.isBuffer(m.payload)).toBe(true);
    expect(acks).toBe(0);
    m.ack();
    m.ack();
    expect(acks).toBe(1);
  });

  it('an ack given after the connection ended does not reach mqtt.js (the broker redelivers)', () => {
    const { i, got } = intake();
    let acks = 0;
    i.onPublish(publish(1, 1), () => acks++);
    i.connectionEnded();
    got[0]!.ack();
    expect(acks).toBe(0);
    expect(i.generation).toBe(1);
  });

  it('a socket that needs to drain holds the ack until it drained, counted as source_paused', async () => {
    const stream = new PassThrough({ highWaterMark: 4 });
    const counters = new Counters();
    const { i, got } = intake({ stream, counters });
    stream.write(Buffer.alloc(16)); // more than the socket should hold: writableNeedDrain
    expect(stream.writableNeedDrain).toBe(true);
    let acks = 0;
    i.onPublish(publish(1, 1), () => acks++);
    got[0]!.ack();
    expect(acks).toBe(0);
    expect(counters.get('source_paused', { source: 'ext' })).toBe(1);
    stream.read(); // the peer reads: 'drain'
    await new Promise((r) => setImmediate(r));
    expect(acks).toBe(1);
  });

  it('with a barrier, a QoS 1 ack corks the socket first (the PUBACK waits for the journal write); QoS 0 has no ack bytes to hold', () => {
    const stream = new PassThrough();
    let held = 0;
    const barrier = new AckBarrier(() => held++);
    const { i, got } = intake({ stream, barrier });
    i.onPublish(publish(1, 0), () => undefined);
    got[0]!.ack();
    expect([held, stream.writableCorked]).toEqual([0, 0]);
    let acked = false;
    i.onPublish(publish(2, 1), () => {
      acked = stream.writableCorked > 0; // corked before mqtt.js writes the PUBACK
    });
    expect(got[1]!.ackGated).toBe(true);
    got[1]!.ack();
    expect([held, acked]).toEqual([1, true]);
    barrier.release();
    expect(stream.writableCorked).toBe(0);
  });

  it('QoS 2 is handed on from the incoming store (PUBREC held), and the PUBLISH handler passes it through', () => {
    const { i, got } = intake();
    let stored = false;
    i.store.put(publish(7, 2), () => (stored = true));
    expect(got.map((m) => m.topic)).toEqual(['t/7']);
    let handled = false;
    i.onPublish(publish(7, 2), () => (handled = true));
    expect(got).toHaveLength(1);
    expect(handled).toBe(true);
    expect(stored).toBe(false);
    got[0]!.ack();
    expect(stored).toBe(true);
  });
});

describe('HoldingStore: the QoS 2 incoming store', () => {
  it('completes a put only when the message is acked; a retransmit of an acked one completes at once, not delivered again', () => {
    const delivered: number[] = [];
    const acks: (() => void)[] = [];
    const store = new HoldingStore((p, remember, done) => {
      delivered.push(p.messageId!);
      acks.push(() => (remember(), done()));
    });
    let puts = 0;
    store.put(publish(3, 2), () => puts++);
    expect([delivered, puts]).toEqual([[3], 0]);
    acks[0]!();
    expect(puts).toBe(1);
    store.put(publish(3, 2), () => puts++);
    expect([delivered, puts]).toEqual([[3], 2]);
  });

  it('finds a released packet once (PUBREL), forgets all on clear(), and completes non-publish puts at once', () => {
    const store = new HoldingStore((_p, remember, done) => (remember(), done()));
    store.put(publish(5, 2), () => undefined);
    const found: (Packet | undefined)[] = [];
    const errors: (Error | undefined)[] = [];
    const cb = (err?: Error, p?: Packet) => (errors.push(err), found.push(p));
    store.get({ messageId: 5 }, cb);
    store.del({ messageId: 5 }, cb);
    store.get({ messageId: 5 }, cb);
    expect(found.map((p) => p?.messageId)).toEqual([5, 5, undefined]);
    expect(errors.map((e) => e?.message)).toEqual([undefined, undefined, 'missing packet']);
    store.put(publish(6, 2), () => undefined);
    store.clear();
    store.get({ messageId: 6 }, cb);
    expect(found.at(-1)).toBeUndefined();
    let done = false;
    store.put({ cmd: 'pubrel', messageId: 9 } as Packet, () => (done = true));
    expect(done).toBe(true);
  });
});
