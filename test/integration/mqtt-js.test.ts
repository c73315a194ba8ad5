import { createServer, type AddressInfo, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { MQTTJS_VERIFIED, holdEachPublish, requestsAwaitingAnswer } from '../../src/sources/mqtt-js.js';
import { waitFor } from '../helpers/net.js';

// Pins the reaches past MQTT.js's ordinary API (src/sources/mqtt-js.ts) to the version they
// were checked against, and checks what they rely on against an in-process aedes broker.

const installed = (JSON.parse(readFileSync(new URL('../../node_modules/mqtt/package.json', import.meta.url), 'utf8')) as { version: string }).version;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function broker(): Promise<{ broker: Aedes; port: number }> {
  const b = await Aedes.createBroker();
  const server: Server = createServer(b.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    await new Promise<void>((r) => b.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { broker: b, port: (server.address() as AddressInfo).port };
}

async function client(port: number, hold?: Parameters<typeof holdEachPublish>[1]): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  if (hold) holdEachPublish(c, hold);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  cleanup.push(() => c.endAsync(true));
  return c;
}

describe('mqtt-js (the MQTT.js reaches, pinned)', () => {
  it(`is the version the reaches were checked against (${MQTTJS_VERIFIED}.x): re-check src/sources/mqtt-js.ts before moving it`, () => {
    expect(installed.split('.').slice(0, 2).join('.')).toBe(MQTTJS_VERIFIED);
  });

  it('holdEachPublish: the PUBACK leaves only when the handler acks, and the next PUBLISH waits for it', async () => {
    const { broker: b, port } = await broker();
    const seen: string[] = [];
    const acks: (() => void)[] = [];
    let acked = 0;
    const sub = await client(port, (packet, ack) => {
      seen.push(packet.payload.toString());
      acks.push(() => ack());
    });
    b.on('ack', (_packet, from) => {
      if (from.id === sub.options.clientId) acked++;
    });
    await sub.subscribeAsync('t/#', { qos: 1 });
    // A witness subscribed after `sub`: aedes forwards each message to `sub` first.
    const witness = await client(port);
    const witnessed: string[] = [];
    witness.on('message', (_t, payload) => witnessed.push(payload.toString()));
    await witness.subscribeAsync('t/#', { qos: 0 });
    const pub = await client(port);
    await pub.publishAsync('t/1', 'one', { qos: 1 });
    await pub.publishAsync('t/2', 'two', { qos: 1 });
    await waitFor(() => seen.length === 1, 5000, 'the first message');
    // Both are at the broker (their publisher has its PUBACKs); the subscriber holds the first.
    // "two" was written to the subscriber before the witness got it; a PUBACK the subscriber
    // sent too early would be at the broker before the witness' own publish round trip ends.
    await waitFor(() => witnessed.includes('two'), 5000, 'the witness has "two"');
    await witness.publishAsync('elsewhere', 'x', { qos: 1 });
    expect(seen).toEqual(['one']);
    expect(acked).toBe(0);
    acks[0]!();
    await waitFor(() => acked === 1 && seen.length === 2, 5000, 'the first PUBACK and then the second message');
    expect(seen).toEqual(['one', 'two']);
    acks[1]!();
    await waitFor(() => acked === 2, 5000, 'the second PUBACK');
  });

  it('requestsAwaitingAnswer counts an unanswered request and drops to 0 at its answer', async () => {
    const { broker: b, port } = await broker();
    let release: (() => void) | undefined;
    // Hold the SUBACK: aedes answers a SUBSCRIBE only after authorizeSubscribe calls back.
    b.authorizeSubscribe = (_client, sub, callback) => {
      release = () => callback(null, sub);
    };
    const c = await client(port);
    expect(requestsAwaitingAnswer(c)).toBe(0);
    const subscribed = c.subscribeAsync('x/#', { qos: 1 });
    await waitFor(() => release !== undefined, 5000, 'the SUBSCRIBE at the broker');
    expect(requestsAwaitingAnswer(c)).toBe(1);
    release!();
    await subscribed;
    expect(requestsAwaitingAnswer(c)).toBe(0);
  });
});
