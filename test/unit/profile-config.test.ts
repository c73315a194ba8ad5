/**
 * The config parts of serial ports and profiled devices (src/config/schema-serial.ts,
 * config/schema-devices.ts, devices/device-config.ts), as a user writes them: "an SDS011 on /dev/ttyUSB0 and
 * Tasmota plugs on the broker".
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { serialSchema, resolveSerialPort, serialPortSchema } from '../../src/config/schema-serial.js';
import { createDeviceProfilesSchema, devicesSchema } from '../../src/config/schema-devices.js';
import { buildDevices, checkDeviceConfig } from '../../src/devices/device-config.js';
import { loadProfiles, type ProfileCatalog } from '../../src/devices/profiles/load.js';
import { isDeviceStatus } from '../../src/devices/profiles/types.js';

let catalog: ProfileCatalog;
beforeAll(async () => {
  const r = await loadProfiles();
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  catalog = r.catalog;
});

const part = z.strictObject({ device_profiles: createDeviceProfilesSchema('/etc/edgeflux'), devices: devicesSchema, serial: serialSchema });

const USER_YAML = `
serial:
  - id: sds
    path: /dev/ttyUSB0            # better: /dev/serial/by-id/usb-1a86_USB_Serial-if00-port0
    profile: sds011
devices:
  - profile: tasmota
`;

describe('serial + devices config', () => {
  it('two short blocks: SDS011 on /dev/ttyUSB0, Tasmota plugs on the broker', () => {
    const cfg = part.parse(parse(USER_YAML));
    expect(checkDeviceConfig(cfg, catalog, ['broker'])).toEqual([]);
    const d = buildDevices(cfg, catalog);
    expect(d.filters).toEqual(['tele/+/SENSOR', 'tele/+/LWT']);
    expect(d.serialPorts).toEqual([
      {
        id: 'sds',
        path: '/dev/ttyUSB0',
        profile: 'sds011',
        baud_rate: 9600,
        data_bits: 8,
        parity: 'none',
        stop_bits: 1,
        framing: { type: 'frame', start: [0xaa, 0xc0], length: 10, end: [0xab], checksum: { type: 'sum8', from: 2, to: 8, at: 8 }, max_length: 512 },
        poll: undefined,
        exclusive: true,
        open_timeout: 5000,
        reconnect: { initial: 100, max: 1000 },
        watchdog: 10_000,
        max_unacked: 16,
        tags: {},
      },
    ]);
    const plug = d.decoders.decode({
      sourceId: 'broker',
      topic: 'tele/plug1/SENSOR',
      payload: Buffer.from('{"Time":"2024-01-15T12:35:00","ENERGY":{"Power":45,"Voltage":230}}'),
      receivedAt: 1n,
    });
    expect(plug).toEqual([{ measurement: 'tasmota', tags: { device: 'plug1', sensor: 'ENERGY' }, fields: { power: 45, voltage: 230 }, time: 1n }]);
    const sds = d.decoders.decode({ sourceId: 'sds', topic: 'sds', payload: Buffer.from('aac0d4043a0aa1601dab', 'hex'), receivedAt: 1n });
    expect(sds).toEqual([
      { measurement: 'particulates', tags: { device: 'sds', sensor: 'sds011', sensor_id: 'a160' }, fields: { pm2_5: 123.6, pm10: 261.8 }, time: 1n },
    ]);
    expect(isDeviceStatus(d.decoders.decode({ sourceId: 'broker', topic: 'tele/plug1/LWT', payload: Buffer.from('Offline'), receivedAt: 1n }))).toBe(true);
    expect(d.decoders.decode({ sourceId: 'broker', topic: 'sensors/a/b/c', payload: Buffer.from('{}'), receivedAt: 1n })).toBeUndefined();
  });

  it("a port's own settings win over its profile's", () => {
    const port = serialPortSchema.parse({
      id: 'co2',
      path: '/dev/ttyAMA0',
      profile: 'mhz19b',
      baud_rate: 19200,
      watchdog: 0,
      poll: { request: 'FF 01 86 00 00 00 00 00 79', interval: '10s' },
    });
    const s = resolveSerialPort(port, catalog.profiles.get('mhz19b')?.spec.serial);
    expect(s).toMatchObject({ baud_rate: 19200, watchdog: 0, poll: { interval: 10_000, timeout: 1000 }, framing: { type: 'frame', start: [0xff, 0x86] } });
  });

  it('reports every problem with its config path', () => {
    const cfg = part.parse(
      parse(`
devices:
  - profile: tasmotta
  - profile: zigbee2mqtt
    vars: { bse: z2m }
  - profile: sds011
serial:
  - id: a
    path: /dev/ttyUSB0
  - id: a
    path: /dev/ttyUSB1
    profile: tasmota
  - id: broker
    path: /dev/ttyUSB2
    profile: nope
`),
    );
    const issues = checkDeviceConfig(cfg, catalog, ['broker']).map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual([
      expect.stringMatching(/^devices\.0\.profile: unknown profile "tasmotta" \(available: arduino-kv, csv-lines, esphome/),
      'devices.1.vars.bse: profile "zigbee2mqtt" has no %bse% (its vars: base)',
      'serial.0.framing: required (or name a profile that defines it)',
      'serial.1.id: duplicate serial port id "a" (first at serial[0])',
      'serial.1.profile: profile "tasmota" is an MQTT profile: name it in devices[].profile',
      'serial.2.id: "broker" is already the id of another source',
      expect.stringMatching(/^serial\.2\.profile: unknown profile "nope"/),
    ]);
    const serialForMqtt = part.parse(parse('devices:\n  - profile: sds011\n'));
    expect(checkDeviceConfig(serialForMqtt, catalog).map((i) => i.path.join('.') + ': ' + i.message)).toEqual([
      'devices.0.profile: profile "sds011" is a serial profile: name it in a serial port (serial[].profile)',
    ]);
    expect(() => buildDevices(serialForMqtt, catalog)).toThrow(/serial profile/);
  });

  it('schema defaults and bounds', () => {
    expect(part.parse({})).toEqual({ device_profiles: { dirs: [] }, devices: [], serial: [] });
    expect(part.parse({ device_profiles: { dirs: ['devices.d', '/opt/p'] } }).device_profiles.dirs).toEqual(['/etc/edgeflux/devices.d', '/opt/p']);
    const json = z.toJSONSchema(part, { io: 'input', target: 'draft-07', unrepresentable: 'any' }) as { properties: Record<string, unknown> };
    expect(Object.keys(json.properties)).toEqual(['device_profiles', 'devices', 'serial']);
    expect(serialPortSchema.safeParse({ id: 'a b', path: '/dev/x' }).success).toBe(false);
    expect(serialPortSchema.safeParse({ id: 'a', path: '/dev/x', stop_bits: 3 }).success).toBe(false);
    expect(serialPortSchema.safeParse({ id: 'a', path: '/dev/x', reconnect: { max: '1h' } }).success).toBe(true);
    const s = resolveSerialPort(serialPortSchema.parse({ id: 'a', path: '/dev/x', framing: { type: 'readline' }, reconnect: { initial: '5s', max: '1s' } }));
    expect(s).toEqual({ error: 'reconnect.initial must not exceed reconnect.max' });
  });
});
