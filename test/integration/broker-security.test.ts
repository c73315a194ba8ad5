import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { EmbeddedBroker, type BrokerLimits, type BrokerTls } from '../../src/sources/embedded-broker.js';
import { compileAcl } from '../../src/sources/broker/acl.js';
import type { BrokerSecurity } from '../../src/sources/broker/security.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { RawMessage } from '../../src/types.js';
import { makeCerts } from '../helpers/certs.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import mqttPacket from 'mqtt-packet';
import { cleanupsAfterEach, hashedUsers } from '../helpers/broker-users.js';

// Every door of the embedded broker, tried with real mqtt.js clients: each refusal is
// counted and nothing refused is ingested.

const cleanups = cleanupsAfterEach();
const users = hashedUsers({ sensor1: 'pw1', reader: 'pw2' });

interface Started {
  broker: EmbeddedBroker;
  counters: Counters;
  got: RawMessage[];
}

async function start(
  opts: { security?: Partial<BrokerSecurity>; limits?: Partial<BrokerLimits>; tls?: BrokerTls; plaintext?: boolean } = {},
): Promise<Started> {
  const counters = new Counters();
  const security: BrokerSecurity = {
    users,
    anonymous: 'never',
    clientCertUsers: true,
    acl: compileAcl([
      { user: 'sensor1', publish: ['sensors/%u/#'], subscribe: [] },
      { user: 'reader', publish: [], subscribe: ['sensors/#'] },
    ]),
    ...opts.security,
  };
  const broker = new EmbeddedBroker({
    config: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    counters,
    security,
    ...(opts.limits && { limits: opts.limits }),
    ...(opts.tls && { tls: opts.tls }),
    ...(opts.plaintext !== undefined && { plaintext: opts.plaintext }),
  });
  const got: RawMessage[] = [];
  const sub = broker.messages().subscribe((m) => {
    got.push(m);
    m.ack();
  });
  cleanups.push(async () => {
    sub.unsubscribe();
    await broker.stop();
  });
  await broker.start();
  return { broker, counters, got };
}

async function connect(port: number, opts: IClientOptions = {}, scheme = 'mqtt'): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`${scheme}://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  c.on('error', () => {});
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** The CONNACK return code of a refused connection. */
async function refusedCode(port: number, opts: IClientOptions): Promise<number | undefined> {
  try {
    const c = await connect(port, opts);
    await c.endAsync(true);
    return 0;
  } catch (e) {
    return (e as { code?: number }).code;
  }
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.once('close', () => resolve()));
}

describe('embedded broker authentication', () => {
  it('refuses anonymous clients when anonymous is "never", even from loopback', async () => {
    const { broker, counters } = await start();
    expect(await refusedCode(broker.port, {})).toBe(5);
    expect(counters.get('broker_refused', { reason: 'anonymous' })).toBe(1);
  });

  it('lets anonymous loopback clients in under the default "loopback"', async () => {
    const { broker, got } = await start({ security: { anonymous: 'loopback', acl: undefined } });
    const c = await connect(broker.port);
    await c.publishAsync('sensors/x/t', '1', { qos: 1 });
    expect(got.map((m) => m.topic)).toEqual(['sensors/x/t']);
  });

  it('refuses a wrong password and an unknown user (code 4), counted apart', async () => {
    const { broker, counters, got } = await start();
    expect(await refusedCode(broker.port, { username: 'sensor1', password: 'wrong' })).toBe(4);
    expect(await refusedCode(broker.port, { username: 'mallory', password: 'pw1' })).toBe(4);
    expect(counters.get('broker_refused', { reason: 'bad_password' })).toBe(1);
    expect(counters.get('broker_refused', { reason: 'unknown_user' })).toBe(1);
    const ok = await connect(broker.port, { username: 'sensor1', password: 'pw1' });
    await ok.publishAsync('sensors/sensor1/t', '21.5', { qos: 1 });
    expect(got).toHaveLength(1);
  });
});

describe('embedded broker ACLs', () => {
  it("a publish outside the user's pattern is not ingested, counted, and the client is disconnected", async () => {
    const { broker, counters, got } = await start();
    const c = await connect(broker.port, { username: 'sensor1', password: 'pw1' });
    await c.publishAsync('sensors/sensor1/ok', '1', { qos: 1 });
    const gone = closed(c);
    c.publish('sensors/other/t', '2', { qos: 1 }, () => {});
    await gone;
    expect(got.map((m) => m.topic)).toEqual(['sensors/sensor1/ok']);
    expect(counters.get('broker_refused', { reason: 'publish_denied' })).toBe(1);
  });

  it("a subscribe outside the user's patterns is answered with a failure code; $SYS is protected", async () => {
    const { broker, counters } = await start();
    const c = await connect(broker.port, { username: 'reader', password: 'pw2' });
    const granted = await c.subscribeAsync('sensors/#');
    expect(granted.map((g) => [g.topic, g.qos])).toEqual([['sensors/#', 0]]);
    // mqtt.js turns a SUBACK failure code (0x80) into a rejection.
    await expect(c.subscribeAsync('secrets/#')).rejects.toThrow(/Subscribe error/);
    await expect(c.subscribeAsync('$SYS/#')).rejects.toThrow(/Subscribe error/);
    expect(counters.get('broker_refused', { reason: 'subscribe_denied' })).toBe(2);
  });
});

describe('embedded broker limits', () => {
  it('an oversize packet ends the connection before it is buffered; nothing ingested', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { maxPacketBytes: 4096 } });
    const c = await connect(broker.port);
    const gone = closed(c);
    c.publish('big', Buffer.alloc(10_000, 1), { qos: 1 }, () => {});
    await gone;
    expect(got).toHaveLength(0);
    expect(counters.get('broker_refused', { reason: 'payload_too_large' })).toBe(1);
  });

  it('a malformed remaining length ends that connection before aedes parses it; a good client still publishes', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined } });
    const bad = createConnection({ host: '127.0.0.1', port: broker.port });
    const gone = new Promise<void>((resolve) => bad.once('close', () => resolve()));
    // A CONNECT whose remaining length never ends: MQTT allows at most 4 length bytes.
    bad.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await gone;
    const c = await connect(broker.port);
    c.publish('fine', '1', { qos: 1 });
    await waitFor(() => got.length === 1 || undefined, 5000, 'the good publish');
    expect(got.map((m) => m.topic)).toEqual(['fine']);
    expect(counters.get('broker_refused', { reason: 'payload_too_large' })).toBe(0);
  });

  it('too many connections: the one beyond the cap is refused and counted', async () => {
    const { broker, counters } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { maxConnections: 2 } });
    await connect(broker.port);
    await connect(broker.port);
    // The server closes the third TCP connection at once, before any MQTT is spoken.
    const third = createConnection({ host: '127.0.0.1', port: broker.port });
    await new Promise<void>((resolve) => third.once('close', () => resolve()));
    await waitFor(() => counters.get('broker_refused', { reason: 'too_many_connections' }) >= 1, 5000, 'refusal counted');
  });

  it('a topic too long or too deep is refused', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { maxTopicLength: 20 } });
    const c = await connect(broker.port);
    const gone = closed(c);
    c.publish('a/very/long/topic/name/indeed', '1', { qos: 1 }, () => {});
    await gone;
    expect(got).toHaveLength(0);
    expect(counters.get('broker_refused', { reason: 'topic_too_long' })).toBe(1);
  });

  it('a client beyond its message rate is disconnected; what it sent before is kept', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { maxRatePerClient: 10 } });
    const c = await connect(broker.port);
    const gone = closed(c);
    for (let i = 0; i < 50; i++) c.publish('t', String(i), { qos: 1 }, () => {});
    await gone;
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(got.length).toBeLessThan(50);
    expect(got.map((m) => m.payload.toString())).toEqual(got.map((_, i) => String(i)));
    expect(counters.get('broker_refused', { reason: 'rate_exceeded' })).toBe(1);
  });
});

describe('embedded broker connection limits', () => {
  /** A plain TCP connection to the broker from `localAddress` (any 127.x.y.z is loopback on Linux). */
  function tcp(port: number, localAddress: string) {
    const sock = createConnection({ host: '127.0.0.1', port, localAddress });
    sock.on('error', () => {});
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    cleanups.push(async () => sock.destroy());
    return { sock, closed };
  }

  it('a flood of 1,100 idle sockets from one address does not keep a good client out', async () => {
    // The 32 it lets in must stay (no connect timeout within the test): on a busy machine the
    // flood takes seconds to arrive, and a slot freed by the 5 s default would let one more in.
    const { broker, counters } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { connectTimeoutMs: 120_000 } });
    // In waves of 100, each connected before the next: 1,100 SYNs at once overflow the listen
    // backlog, and the kernel's SYN retries (1 s, 3 s, 7 s …) then outlast the wait below.
    const flood: ReturnType<typeof tcp>[] = [];
    for (let wave = 0; wave < 11; wave++) {
      const socks = Array.from({ length: 100 }, () => tcp(broker.port, '127.0.0.2'));
      await Promise.all(
        socks.map(
          ({ sock }) => new Promise<void>((resolve) => (sock.connecting ? sock.once('connect', () => resolve()).once('close', () => resolve()) : resolve())),
        ),
      );
      flood.push(...socks);
    }
    await waitFor(() => counters.get('broker_refused', { reason: 'too_many_connections_per_address' }) === 1100 - 32, 10_000, 'the flood beyond 32 refused');
    const good = await connect(broker.port, { clientId: 'good' });
    await good.publishAsync('sensors/x/t', '1', { qos: 1 });
    expect(flood.length).toBe(1100);
  });

  it('a connection that does not finish its CONNECT in time is closed and counted', async () => {
    const { broker, counters } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { connectTimeoutMs: 200 } });
    const { sock, closed } = tcp(broker.port, '127.0.0.1');
    const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slow', keepalive: 60 });
    sock.write(connectPacket.subarray(0, 5)); // half a CONNECT
    await closed;
    expect(counters.get('broker_refused', { reason: 'connect_timeout' })).toBe(1);
  });

  it('max_topic_length counts UTF-8 bytes, not characters', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined }, limits: { maxTopicLength: 15 } });
    const { conn } = await RawMqtt.connect(broker.port, { clientId: 'utf8' });
    cleanups.push(() => conn.end());
    await expect(conn.publish('é/éééééééé', '1')).rejects.toThrow(/closed/); // 10 characters, 20 bytes
    expect(got).toHaveLength(0);
    expect(counters.get('broker_refused', { reason: 'topic_too_long' })).toBe(1);
  });

  it('a publish to $SYS is refused, counted and logged like any other ACL refusal', async () => {
    const { broker, counters, got } = await start({ security: { anonymous: 'always', acl: undefined } });
    const { conn } = await RawMqtt.connect(broker.port, { clientId: 'sys' });
    cleanups.push(() => conn.end());
    await expect(conn.publish('$SYS/broker/uptime', 'forged')).rejects.toThrow(/closed/);
    expect(got).toHaveLength(0);
    expect(counters.get('broker_refused', { reason: 'publish_denied' })).toBe(1);
  });
});

describe('embedded broker TLS', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let tls: BrokerTls;
  let pem: (f: string) => Promise<string>;
  beforeAll(async () => {
    dir = await tempDir('edgeflux-broker-tls-');
    await makeCerts(dir.path, [['client', 'sensor1']]);
    pem = (f) => readFile(join(dir.path, f), 'utf8');
    tls = { host: '127.0.0.1', port: 0, cert: await pem('server.crt'), key: await pem('server.key'), ca: await pem('ca.crt'), clientCerts: 'optional' };
  });
  afterAll(async () => dir?.cleanup());

  it('TLS only (plaintext off): a client certificate maps to its user, whose ACL applies', async () => {
    const { broker, got } = await start({ tls, plaintext: false });
    expect(() => broker.port).toThrow();
    const port = broker.tlsListenPort!;
    const c = await connect(port, { ca: await pem('ca.crt'), cert: await pem('client.crt'), key: await pem('client.key') }, 'mqtts');
    await c.publishAsync('sensors/sensor1/t', '1', { qos: 1 });
    expect(got.map((m) => m.topic)).toEqual(['sensors/sensor1/t']);
  });

  it('TLS without a client certificate still needs a password; with one it works', async () => {
    const { broker } = await start({ tls, plaintext: false });
    const port = broker.tlsListenPort!;
    await expect(connect(port, { ca: await pem('ca.crt') }, 'mqtts')).rejects.toThrow();
    const c = await connect(port, { ca: await pem('ca.crt'), username: 'reader', password: 'pw2' }, 'mqtts');
    expect(c.connected).toBe(true);
  });
});
