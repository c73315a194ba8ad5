import { describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/sources/embedded-broker.js';
import { compileAcl, type AclRule } from '../../src/sources/broker/acl.js';
import type { BrokerSecurity } from '../../src/sources/broker/security.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { RawMessage } from '../../src/types.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { cleanupsAfterEach, hashedUsers } from '../helpers/broker-users.js';

// Client ids and persistent sessions belong to the user that first used them. Tried with
// raw MQTT packets, as a hostile device would (a client library never reuses an id on purpose).

const cleanups = cleanupsAfterEach();
const users = hashedUsers({ sensor1: 'pw1', reader: 'pw2' });

const RULES: AclRule[] = [
  { user: 'sensor1', publish: ['sensors/%u/#'], subscribe: ['commands/%u/#'] },
  { user: 'reader', publish: [], subscribe: ['sensors/#'] },
];

async function start(opts: { security?: Partial<BrokerSecurity>; stateDir?: string; rules?: AclRule[]; maxQueued?: number } = {}) {
  const counters = new Counters();
  const broker = new EmbeddedBroker({
    config: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    counters,
    security: { users, anonymous: 'never', clientCertUsers: false, acl: compileAcl(opts.rules ?? RULES), ...opts.security },
    ...(opts.stateDir !== undefined && { stateDir: opts.stateDir }),
    ...(opts.maxQueued !== undefined && { limits: { maxQueuedPerClient: opts.maxQueued } }),
  });
  const got: RawMessage[] = [];
  const sub = broker.messages().subscribe((m) => {
    got.push(m);
    m.ack();
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    sub.unsubscribe();
    await broker.stop();
  };
  cleanups.push(stop);
  await broker.start();
  return { broker, counters, got, stop };
}

async function raw(port: number, opts: Parameters<typeof RawMqtt.connect>[1]) {
  const r = await RawMqtt.connect(port, opts);
  cleanups.push(() => r.conn.end());
  return r;
}

const READER = { username: 'reader', password: 'pw2' };
const SENSOR = { username: 'sensor1', password: 'pw1' };

describe('client ids belong to their first user', () => {
  it('another user cannot take over a persistent session: CONNACK not authorized, nothing delivered, counted', async () => {
    const { broker, counters } = await start();
    const obs = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    expect(obs.connack.returnCode).toBe(0);
    expect(await obs.conn.subscribe('sensors/#', 1)).toEqual([1]);
    await obs.conn.end();
    await waitFor(() => broker.clientCount === 0, 5000, 'the observer gone'); // else the message is sent to it live, not queued
    const pub = await raw(broker.port, { clientId: 'sensor1-pub', ...SENSOR });
    await pub.conn.publish('sensors/sensor1/t', '21.5');

    const thief = await raw(broker.port, { clientId: 'observer', clean: false, ...SENSOR });
    expect(thief.connack.returnCode).toBe(5);
    expect(thief.connack.sessionPresent).toBe(false);
    await thief.conn.closed;
    expect(thief.conn.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
    expect(counters.get('broker_refused', { reason: 'client_id_taken' })).toBe(1);

    // The owner still finds its session and its queued message.
    const back = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    expect(back.connack.sessionPresent).toBe(true);
    const msg = (await back.conn.next('publish')) as { topic: string; payload: Buffer };
    expect([msg.topic, msg.payload.toString()]).toEqual(['sensors/sensor1/t', '21.5']);
  });

  it('another user cannot kick a connected client by reusing its id', async () => {
    const { broker } = await start();
    const obs = await raw(broker.port, { clientId: 'observer', ...READER });
    const thief = await raw(broker.port, { clientId: 'observer', ...SENSOR });
    expect(thief.connack.returnCode).toBe(5);
    obs.conn.send({ cmd: 'pingreq' });
    await obs.conn.next('pingresp');
    expect(obs.conn.isOpen).toBe(true);
  });

  it.each([
    ['upper case', 'OBSERVER'],
    ['a zero-width space', 'obser\u200bver'],
    ['a soft hyphen and a BOM', '\ufeffobser\u00adver'],
    ['full-width letters (NFKC)', 'ｏｂｓｅｒｖｅｒ'],
  ])('a variant with %s is the same id for ownership', async (_what, variant) => {
    const { broker, counters } = await start();
    const obs = await raw(broker.port, { clientId: 'observer', ...READER });
    expect(obs.connack.returnCode).toBe(0);
    const thief = await raw(broker.port, { clientId: variant, ...SENSOR });
    expect(thief.connack.returnCode).toBe(5);
    expect(counters.get('broker_refused', { reason: 'client_id_taken' })).toBe(1);
  });

  it('the same user may come back with its id, also with clean=false', async () => {
    const { broker } = await start();
    const a = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    await a.conn.subscribe('sensors/#', 1);
    await a.conn.end();
    const b = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    expect([b.connack.returnCode, b.connack.sessionPresent]).toEqual([0, true]);
  });

  it('ownership survives a restart when the broker keeps its state in a directory', async () => {
    const dir = await tempDir('edgeflux-broker-state-');
    cleanups.push(dir.cleanup);
    const first = await start({ stateDir: dir.path });
    const obs = await raw(first.broker.port, { clientId: 'observer', ...READER });
    expect(obs.connack.returnCode).toBe(0);
    await obs.conn.end();
    await first.stop();

    const second = await start({ stateDir: dir.path });
    const thief = await raw(second.broker.port, { clientId: 'observer', ...SENSOR });
    expect(thief.connack.returnCode).toBe(5);
  });

  it('a client id pattern (%u-*): ids outside it are refused as "identifier rejected"', async () => {
    const { broker, counters } = await start({ security: { clientIdPattern: '%u-*' } });
    expect((await raw(broker.port, { clientId: 'sensor1-kitchen', ...SENSOR })).connack.returnCode).toBe(0);
    expect((await raw(broker.port, { clientId: 'SENSOR1-hall', ...SENSOR })).connack.returnCode).toBe(0);
    expect((await raw(broker.port, { clientId: 'reader-kitchen', ...SENSOR })).connack.returnCode).toBe(2);
    expect((await raw(broker.port, { clientId: 'kitchen', ...SENSOR })).connack.returnCode).toBe(2);
    expect(counters.get('broker_refused', { reason: 'client_id_pattern' })).toBe(2);
  });

  it("messages queued for a session are checked against the receiver's ACL when delivered (the ACL changed over a restart)", async () => {
    const dir = await tempDir('edgeflux-broker-state-');
    cleanups.push(dir.cleanup);
    const first = await start({ stateDir: dir.path });
    const obs = await raw(first.broker.port, { clientId: 'observer', clean: false, ...READER });
    await obs.conn.subscribe('sensors/#', 1);
    await obs.conn.end();
    await waitFor(() => first.broker.clientCount === 0, 5000, 'the observer gone'); // else the message is sent to it live, not queued
    const pub = await raw(first.broker.port, { clientId: 'sensor1-pub', ...SENSOR });
    await pub.conn.publish('sensors/sensor1/secret', 's', { messageId: 1 });
    await pub.conn.end();
    await first.stop();

    // reader may now read only sensors/public/#.
    const second = await start({ stateDir: dir.path, rules: [RULES[0]!, { user: 'reader', publish: [], subscribe: ['sensors/public/#'] }] });
    const back = await raw(second.broker.port, { clientId: 'observer', clean: false, ...READER });
    expect(back.connack.sessionPresent).toBe(true);
    // The queued message reached the forward check (the restored subscription itself is
    // refused by the new ACL, so a live message does not even get that far).
    await waitFor(() => second.counters.get('broker_refused', { reason: 'forward_denied' }) === 1, 5000, 'the queued message refused');
    const pub2 = await raw(second.broker.port, { clientId: 'sensor1-pub', ...SENSOR });
    await pub2.conn.publish('sensors/sensor1/secret', 't', { messageId: 2 });
    back.conn.send({ cmd: 'pingreq' });
    await back.conn.next('pingresp');
    expect(back.conn.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });
});

describe('persistent sessions', () => {
  it.each([
    ['in memory', false],
    ['on disk', true],
  ])('queue at most max_queued_messages for a client that is away (%s); the rest are dropped, counted', async (_where, onDisk) => {
    const dir = await tempDir('edgeflux-broker-state-');
    cleanups.push(dir.cleanup);
    const { broker, counters } = await start({ maxQueued: 3, ...(onDisk && { stateDir: dir.path }) });
    const obs = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    await obs.conn.subscribe('sensors/#', 1);
    await obs.conn.end();
    // Until the broker has seen the observer go, a message would be sent to it live, not queued.
    await waitFor(() => broker.clientCount === 0, 5000, 'the observer gone');
    const pub = await raw(broker.port, { clientId: 'sensor1-pub', ...SENSOR });
    for (let i = 1; i <= 5; i++) await pub.conn.publish('sensors/sensor1/t', String(i), { messageId: i });
    await waitFor(() => counters.get('broker_queue_dropped') === 2, 5000, 'two dropped');

    const back = await raw(broker.port, { clientId: 'observer', clean: false, ...READER });
    await waitFor(() => back.conn.packets.filter((p) => p.cmd === 'publish').length >= 3, 5000, 'the queued messages');
    back.conn.send({ cmd: 'pingreq' });
    await back.conn.next('pingresp');
    expect(back.conn.packets.flatMap((p) => (p.cmd === 'publish' ? [p.payload.toString()] : []))).toEqual(['1', '2', '3']);
  });
});
