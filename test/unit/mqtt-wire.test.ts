import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MQTT_PACKET_VERIFIED, packetIdTableOn } from '../../src/sources/mqtt-wire.js';

describe('mqtt-wire', () => {
  it(`is the mqtt-packet version the switch was checked against (${MQTT_PACKET_VERIFIED}.x): re-check src/sources/mqtt-wire.ts before moving it`, () => {
    const installed = (JSON.parse(readFileSync(new URL('../../node_modules/mqtt-packet/package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
    expect(installed.split('.').slice(0, 2).join('.')).toBe(MQTT_PACKET_VERIFIED);
  });

  it('turns off the packet-id table of the one mqtt-packet that mqtt.js and aedes both write with', async () => {
    expect(packetIdTableOn()).toBe(false);
    const ours = (await import('mqtt-packet')).default;
    // The copies the two libraries resolve: if npm ever installs a nested copy for one of
    // them, the setting would not reach it and this fails.
    const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'))('mqtt-packet') as typeof ours;
    const aedesEntry = import.meta.resolve('aedes');
    const fromAedes = (await import(import.meta.resolve('mqtt-packet', aedesEntry))).default as typeof ours;
    expect(fromMqtt).toBe(ours);
    expect(fromAedes).toBe(ours);
  });

  it('still writes packet ids correctly through writeToStream (the path the table served)', async () => {
    const { writeToStream, parser } = (await import('mqtt-packet')).default;
    for (const messageId of [1, 255, 256, 4660, 65535]) {
      const chunks: Buffer[] = [];
      const sink = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
      writeToStream({ cmd: 'puback', messageId }, sink);
      await new Promise((r) => setImmediate(r)); // it corks the stream until the next tick
      const buf = Buffer.concat(chunks);
      expect([...buf]).toEqual([0x40, 2, messageId >> 8, messageId & 0xff]);
      const p = parser();
      const seen: unknown[] = [];
      p.on('packet', (pk) => seen.push(pk.messageId));
      p.parse(buf);
      expect(seen).toEqual([messageId]);
    }
  });
});
