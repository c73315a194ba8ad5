import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../../src/sources/embedded-broker.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger, type Logger } from '../../src/observe/logger.js';
import { waitFor } from '../helpers/net.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { cleanupsAfterEach, hashedUsers } from '../helpers/broker-users.js';

// Login throttling seen from the wire: failure answers are held back, correct logins never;
// guesses in parallel count like guesses in a row. Raw CONNECTs, as a guesser would send them.

const cleanups = cleanupsAfterEach();
const users = hashedUsers({ sensor1: 'pw1', reader: 'pw2' });

async function start(login: EmbeddedBrokerOptions['login'] = {}, logger: Logger = silentLogger()) {
  const counters = new Counters();
  const broker = new EmbeddedBroker({
    config: { host: '127.0.0.1', port: 0 },
    logger,
    counters,
    security: { users, anonymous: 'never', clientCertUsers: false },
    login,
  });
  const sub = broker.messages().subscribe((m) => m.ack());
  cleanups.push(async () => {
    sub.unsubscribe();
    await broker.stop();
  });
  await broker.start();
  return { broker, counters };
}

/** Sends a CONNECT and collects its CONNACK whenever it comes (never awaited for it). */
async function attempt(port: number, clientId: string, username: string, password: string) {
  const conn = await RawMqtt.open(port);
  cleanups.push(async () => conn.socket.destroy());
  conn.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60, username, password: Buffer.from(password) });
  const result: { code?: number } = {};
  conn.next('connack', 120_000).then(
    (p) => (result.code = (p as { returnCode: number }).returnCode),
    () => {},
  );
  return result;
}

/** The CONNACK code, or 'timeout' when it did not come within `ms`. */
async function connackWithin(port: number, clientId: string, username: string, password: string, ms: number): Promise<number | 'timeout'> {
  const r = await attempt(port, clientId, username, password);
  try {
    await waitFor(() => r.code !== undefined, ms, 'CONNACK', 5);
    return r.code!;
  } catch {
    return 'timeout';
  }
}

describe('login throttling', () => {
  it("someone else's failures from the same address never delay a correct login", async () => {
    const { broker, counters } = await start();
    const wrong = await Promise.all(Array.from({ length: 8 }, (_, i) => attempt(broker.port, `guess${i}`, 'reader', 'nope')));
    await waitFor(() => wrong.every((w) => w.code !== undefined), 5000, 'the guesses answered');
    expect(counters.get('broker_refused', { reason: 'bad_password' })).toBeGreaterThanOrEqual(3);
    expect(await connackWithin(broker.port, 'sensor', 'sensor1', 'pw1', 3000)).toBe(0);
  });

  it('guesses sent in parallel are counted while in flight: beyond the free ones they are refused unchecked', async () => {
    const { broker, counters } = await start({ throttle: { freeFailures: 3, baseDelayMs: 60_000 } });
    const wrong = await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(broker.port, `guess${i}`, 'sensor1', 'nope')));
    // However they interleave: three are checked and answered at once; a 4th that found
    // none in flight is checked and its answer held; all others are refused unchecked.
    const answered = () => wrong.filter((w) => w.code !== undefined);
    await waitFor(() => answered().length + counters.get('broker_login_delayed') === 10, 5000, 'every guess answered or held');
    const codes = answered().map((w) => w.code);
    expect(codes.filter((c) => c === 4)).toHaveLength(3);
    expect(codes.filter((c) => c === 3)).toHaveLength(codes.length - 3);
    expect(counters.get('broker_login_delayed')).toBe(10 - codes.length);
    expect(counters.get('broker_refused', { reason: 'throttled' })).toBe(codes.length - 3);
    if (codes.length === 10) {
      const held = await attempt(broker.port, 'g11', 'sensor1', 'nope');
      await waitFor(() => counters.get('broker_login_delayed') === 1, 5000, 'the 4th failure held back');
      expect(held.code).toBeUndefined();
    }
    // While a failure answer is held, even the right password is refused unchecked for this
    // pair (its guesser could otherwise go on in parallel); other users are not affected.
    expect(await connackWithin(broker.port, 'g12', 'sensor1', 'pw1', 3000)).toBe(3);
    expect(await connackWithin(broker.port, 'r', 'reader', 'pw2', 3000)).toBe(0);
  });

  it("a success clears only its own username: guessing another user's password stays slow", async () => {
    const { broker, counters } = await start({ throttle: { freeFailures: 3, baseDelayMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect(await connackWithin(broker.port, `g${i}`, 'sensor1', 'nope', 3000)).toBe(4);
    expect(await connackWithin(broker.port, 'r', 'reader', 'pw2', 3000)).toBe(0);
    const fourth = await attempt(broker.port, 'g4', 'sensor1', 'nope');
    await waitFor(() => counters.get('broker_login_delayed') === 1, 5000, 'the fourth guess held back');
    expect(fourth.code).toBeUndefined();
  });

  it('beyond the password checks running and waiting, CONNECTs are refused early as "server unavailable"; a clean login still gets in', async () => {
    const { broker, counters } = await start({ concurrentChecks: 1, queuedChecks: 2, throttle: { freeFailures: 1000, freeFailuresPerAddress: 1000 } });
    const wave = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(broker.port, `w${i}`, 'reader', 'nope')));
    expect(await connackWithin(broker.port, 'sensor', 'sensor1', 'pw1', 5000)).toBe(0);
    await waitFor(() => wave.every((w) => w.code !== undefined), 10_000, 'every wave CONNECT answered');
    const busy = wave.filter((w) => w.code === 3).length;
    expect(busy).toBeGreaterThan(0);
    expect(counters.get('broker_refused', { reason: 'busy' })).toBe(busy);
    expect(wave.filter((w) => w.code === 4).length).toBe(20 - busy);
  });
});

describe('login refusal logs', () => {
  it('name a known user; of an unknown one only say so and give its length', async () => {
    const lines: Record<string, unknown>[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const { broker } = await start({}, pino({ level: 'info' }, dest));
    expect(await connackWithin(broker.port, 'a', 'sensor1', 'nope', 3000)).toBe(4);
    expect(await connackWithin(broker.port, 'b', 'correct-horse-battery', 'x', 3000)).toBe(4);
    const refusals = lines.filter((l) => l.reason === 'bad_password' || l.reason === 'unknown_user');
    expect(refusals.map((l) => [l.reason, l.code, l.username, l.unknownUser, l.usernameLength])).toEqual([
      ['bad_password', 'EFX_BROKER_LOGIN_REFUSED', 'sensor1', undefined, undefined],
      ['unknown_user', 'EFX_BROKER_LOGIN_REFUSED', undefined, true, 21],
    ]);
    expect(JSON.stringify(lines)).not.toContain('correct-horse-battery');
  });
});
