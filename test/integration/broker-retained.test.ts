import { describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/sources/embedded-broker.js';
import type { RetainedBounds } from '../../src/sources/broker/retained-limits.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { cleanupsAfterEach, hashedUsers } from '../helpers/broker-users.js';

// Retained messages are bounded per user and overall; over a bound a retained publish is
// refused the way an over-size packet is (no PUBACK, connection closed) and counted.

const cleanups = cleanupsAfterEach();
const users = hashedUsers({ alice: 'pa', bob: 'pb' });

async function start(retained: Partial<RetainedBounds>, stateDir?: string) {
  const counters = new Counters();
  const broker = new EmbeddedBroker({
    config: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    counters,
    retained,
    security: { users, anonymous: 'never', clientCertUsers: false },
    ...(stateDir !== undefined && { stateDir }),
  });
  const sub = broker.messages().subscribe((m) => m.ack());
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    sub.unsubscribe();
    await broker.stop();
  };
  cleanups.push(stop);
  await broker.start();
  return { broker, counters, stop };
}

let ids = 0;
async function as(port: number, user: 'alice' | 'bob') {
  const { conn, connack } = await RawMqtt.connect(port, { clientId: `${user}-${ids++}`, username: user, password: user === 'alice' ? 'pa' : 'pb' });
  expect(connack.returnCode).toBe(0);
  cleanups.push(() => conn.end());
  let mid = 1;
  return { conn, retain: (topic: string, payload: string | Buffer) => conn.publish(topic, payload, { retain: true, messageId: mid++ }) };
}

/**
 * The retained messages a new subscriber to `#` gets, as topic → payload, once `expected`
 * of them arrived (aedes streams them after the SUBACK) and a PINGREQ round trip later.
 */
async function retainedNow(port: number, expected: number): Promise<Record<string, string>> {
  const { conn } = await as(port, 'bob');
  await conn.subscribe('#', 0);
  await waitFor(() => conn.packets.filter((p) => p.cmd === 'publish').length >= expected, 3000, `${expected} retained messages`);
  conn.send({ cmd: 'pingreq' });
  await conn.next('pingresp');
  const out: Record<string, string> = {};
  for (const p of conn.packets) if (p.cmd === 'publish') out[p.topic] = p.payload.toString();
  await conn.end();
  return out;
}

describe('retained messages are bounded', () => {
  it('a retained payload over its cap is refused: no PUBACK, connection closed, counted; the same payload not retained is fine', async () => {
    const { broker, counters } = await start({ maxPayloadBytes: 100 });
    const a = await as(broker.port, 'alice');
    await a.conn.publish('big/plain', Buffer.alloc(200, 1), { messageId: 1 });
    await expect(a.retain('big/retained', Buffer.alloc(200, 1))).rejects.toThrow(/closed/);
    expect(counters.get('broker_refused', { reason: 'retained_too_large' })).toBe(1);
    expect(await retainedNow(broker.port, 0)).toEqual({});
  });

  it("a user's retained count is bounded; replacing or clearing one of its own frees room", async () => {
    const { broker, counters } = await start({ maxPerUser: 2 });
    const a = await as(broker.port, 'alice');
    await a.retain('a/1', 'x');
    await a.retain('a/2', 'y');
    await a.retain('a/2', 'y2'); // replaces: still two
    await a.retain('a/1', ''); // clears
    await a.retain('a/3', 'z');
    await expect(a.retain('a/4', 'w')).rejects.toThrow(/closed/);
    expect(counters.get('broker_refused', { reason: 'retained_limit' })).toBe(1);
    // another user has a budget of its own
    const b = await as(broker.port, 'bob');
    await b.retain('b/1', 'v');
    expect(await retainedNow(broker.port, 3)).toEqual({ 'a/2': 'y2', 'a/3': 'z', 'b/1': 'v' });
  });

  it('bytes per user and overall are bounded', async () => {
    const { broker, counters } = await start({ maxBytesPerUser: 1000, maxBytesTotal: 1500 });
    const a = await as(broker.port, 'alice');
    await a.retain('a/1', Buffer.alloc(900));
    await expect(a.retain('a/2', Buffer.alloc(200))).rejects.toThrow(/closed/);
    const b = await as(broker.port, 'bob');
    await b.retain('b/1', Buffer.alloc(500));
    await expect(b.retain('b/2', Buffer.alloc(200))).rejects.toThrow(/closed/);
    expect(counters.get('broker_refused', { reason: 'retained_limit' })).toBe(2);
  });

  it('a zero-length retained publish clears the topic', async () => {
    const { broker } = await start({});
    const a = await as(broker.port, 'alice');
    await a.retain('a/1', 'x');
    await a.retain('a/1', '');
    expect(await retainedNow(broker.port, 0)).toEqual({});
  });

  it('the bounds and the retained messages hold across a restart', async () => {
    const dir = await tempDir('edgeflux-retained-');
    cleanups.push(dir.cleanup);
    const first = await start({ maxPerUser: 2 }, dir.path);
    const a = await as(first.broker.port, 'alice');
    await a.retain('a/1', 'x');
    await a.retain('a/2', 'y');
    await a.conn.end();
    await first.stop();

    const second = await start({ maxPerUser: 2 }, dir.path);
    expect(await retainedNow(second.broker.port, 2)).toEqual({ 'a/1': 'x', 'a/2': 'y' });
    const again = await as(second.broker.port, 'alice');
    await expect(again.retain('a/3', 'z')).rejects.toThrow(/closed/);
    await waitFor(() => second.counters.get('broker_refused', { reason: 'retained_limit' }) === 1, 2000, 'counted');
  });

  it('a broker restarted in place without a state dir starts with an empty ledger (its retained messages are gone too)', async () => {
    const { broker, counters } = await start({ maxPerUser: 1 });
    const a = await as(broker.port, 'alice');
    await a.retain('a/1', 'x');
    await a.conn.end();
    await broker.stop(); // as a supervised restart does: stop, subscribe again, start
    const sub = broker.messages().subscribe((m) => m.ack());
    cleanups.push(async () => sub.unsubscribe());
    await broker.start();
    const again = await as(broker.port, 'alice');
    await again.retain('a/2', 'y');
    expect(counters.get('broker_refused', { reason: 'retained_limit' })).toBe(0);
  });
});
