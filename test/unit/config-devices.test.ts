/**
 * Device profiles wired into the config loader and the shared decode step: the user's two
 * short blocks load without rules, `edgeflux check` places profile problems (in the config
 * and in profile files), MQTT sources subscribe to the profiles' topics, and a device
 * status decodes to the same reading on the ingest path and on a replay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIssue, parseConfigText } from '../../src/cli/load-config.js';
import { decodeDeviceMessage, defaultFilters, DeviceStatusLog, loadDevices } from '../../src/devices/device-messages.js';
import { RuleSet } from '../../src/devices/rules.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger, type Logger } from '../../src/observe/logger.js';
import type { DeviceStatus } from '../../src/devices/profiles/types.js';
import type { Config } from '../../src/config/types.js';
import { tempDir } from '../helpers/net.js';

const OUTPUT = `outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: sensors }
`;
const USER = `broker: {}
mqtt:
  - { id: ext, url: "mqtt://127.0.0.1:1883" }
serial:
  - { id: sds, path: /dev/ttyUSB0, profile: sds011 }
devices:
  - { profile: tasmota }
${OUTPUT}`;

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('edgeflux-config-devices-');
});
afterAll(async () => dir?.cleanup());

async function load(text: string): Promise<{ config?: Config; errors: string[] }> {
  const r = await parseConfigText(text, join(dir.path, 'edgeflux.yaml'), {}, dir.path);
  return r.ok ? { config: r.config, errors: [] } : { errors: r.errors.map(formatIssue).map((e) => e.replace(dir.path + '/', '')) };
}

describe('config with device profiles', () => {
  it("the user's two blocks need no rules; default subscriptions cover the profiles' topics", async () => {
    const { config, errors } = await load(USER);
    expect(errors).toEqual([]);
    expect(config?.rules).toEqual([]);
    expect(config?.mqtt[0]?.subscriptions).toEqual([]);
    expect(defaultFilters(new RuleSet(config!.rules, config!.limits), await loadDevices(config!, silentLogger()))).toEqual(['tele/+/SENSOR', 'tele/+/LWT']);
    expect(config?.serial[0]).toMatchObject({ id: 'sds', path: '/dev/ttyUSB0', profile: 'sds011' });
  });

  it('rules and profiles together: one covering set, explicit subscriptions kept as written', async () => {
    const rules = `rules:\n  - { topic: "tele/{device}/{measurement}", format: json }\n  - { topic: "sensors/{device}/{measurement}", format: json }\n`;
    const { config, errors } = await load(`${USER}${rules}`);
    expect(errors).toEqual([]);
    expect(defaultFilters(new RuleSet(config!.rules, config!.limits), await loadDevices(config!, silentLogger()))).toEqual(['tele/+/+', 'sensors/+/+']);
    const explicit = await load(`${USER.replace('url: "mqtt://127.0.0.1:1883" }', 'url: "mqtt://127.0.0.1:1883", subscriptions: [{ topic: "x/#" }] }')}`);
    expect(explicit.config?.mqtt[0]?.subscriptions).toEqual([{ topic: 'x/#', qos: 1 }]);
  });

  it('reports unknown profiles, wrong transports and id clashes at file:line:key', async () => {
    const { errors } = await load(`broker: {}
serial:
  - { id: broker, path: /dev/ttyUSB0, profile: sds011 }
  - { id: gps, path: /dev/ttyUSB1, profile: tasmota }
  - { id: edgeflux, path: /dev/ttyUSB2, profile: sds011 }
devices:
  - { profile: no-such-profile }
${OUTPUT}`);
    expect(errors).toEqual([
      'edgeflux.yaml:3:7 serial[0].id: "broker" is already the id of another source',
      'edgeflux.yaml:4:36 serial[1].profile: profile "tasmota" is an MQTT profile: name it in devices[].profile',
      'edgeflux.yaml:5:7 serial[2].id: "edgeflux" is already the id of another source',
      expect.stringMatching(/^edgeflux\.yaml:7:7 devices\[0\]\.profile: unknown profile "no-such-profile" \(available: .*sds011.*\)$/),
    ]);
  });

  it('a broken user profile is reported in its own file, at its line and key', async () => {
    const profiles = join(dir.path, 'profiles');
    await mkdir(profiles, { recursive: true });
    await writeFile(
      join(profiles, 'mine.yaml'),
      'name: mine\ndescription: mine\nmqtt: { topics: ["x/{device}"] }\ndecode:\n  decoder: no-such-decoder\nmeasurement: m\nfields: []\n',
    );
    const { errors } = await load(`${USER}device_profiles: { dirs: [profiles] }\n`);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.startsWith('profiles/mine.yaml:'))).toBe(true);
    expect(errors.join('\n')).toMatch(/^profiles\/mine\.yaml:5:\d+ decode\.decoder: /m);
  });
});

describe('profile problems in the same pass as the other errors', () => {
  it('an unknown profile name is reported beside a schema error elsewhere', async () => {
    const { errors } = await load(
      `broker: { port: many }\nserial:\n  - { id: s1, path: /dev/ttyUSB0, profile: sds012 }\ndevices:\n  - { profile: tasmotta }\n${OUTPUT}`,
    );
    expect(errors).toEqual([
      expect.stringMatching(/^edgeflux\.yaml:1:\d+ broker\.port: /),
      expect.stringMatching(/^edgeflux\.yaml:3:\d+ serial\[0\]\.profile: unknown profile "sds012" \(available: .*sds011/),
      expect.stringMatching(/^edgeflux\.yaml:5:\d+ devices\[0\]\.profile: unknown profile "tasmotta" \(available: .*tasmota/),
    ]);
  });

  it('a profile file with an unknown decoder is reported beside a schema error in the config', async () => {
    const profiles = join(dir.path, 'profiles-bad');
    await mkdir(profiles, { recursive: true });
    await writeFile(
      join(profiles, 'mine.yaml'),
      'name: mine\ndescription: mine\nmqtt: { topics: ["x/{device}"] }\ndecode:\n  decoder: jsn\nmeasurement: m\nfields: []\n',
    );
    const { errors } = await load(`broker: { port: many }\ndevice_profiles: { dirs: [profiles-bad] }\ndevices:\n  - { profile: mine }\n${OUTPUT}`);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^edgeflux\.yaml:1:\d+ broker\.port: /),
        expect.stringMatching(/^profiles-bad\/mine\.yaml:5:\d+ decode\.decoder: unknown decoder "jsn"/),
      ]),
    );
  });
});

describe('the shared decode step', () => {
  it('profiles first, then rules; a device status is a device_status reading, its side effects only with onStatus', async () => {
    const { config } = await load(`${USER}rules:\n  - { topic: "sensors/{device}/{measurement}", format: json }\n`);
    const devices = await loadDevices(config!, silentLogger());
    const rules = new RuleSet(config!.rules, config!.limits);
    const msg = (topic: string, payload: string) => ({ sourceId: 'broker', topic, payload: Buffer.from(payload), receivedAt: 5n, ack: () => {} });
    const counters = new Counters();
    const statuses: DeviceStatus[] = [];
    const statusLog = new DeviceStatusLog(silentLogger(), counters);
    const onStatus = (s: DeviceStatus) => {
      statuses.push(s);
      statusLog.observe(s);
    };

    const lwt = msg('tele/plug1/LWT', 'Offline');
    const atIngest = decodeDeviceMessage(lwt, devices?.decoders, rules, onStatus);
    const onReplay = decodeDeviceMessage(lwt, devices?.decoders, rules);
    expect(atIngest).toEqual([
      { measurement: 'device_status', tags: { device: 'plug1', profile: 'tasmota' }, fields: { state: 'offline', online: false }, time: 5n },
    ]);
    expect(onReplay).toEqual(atIngest);
    expect(statuses).toHaveLength(1);
    expect(counters.get('device_status', { profile: 'tasmota', state: 'offline' })).toBe(1);

    expect(decodeDeviceMessage(msg('sensors/th1/climate', '{"t":1}'), devices?.decoders, rules)).toEqual([
      { measurement: 'climate', tags: { device: 'th1' }, fields: { t: 1 }, time: 5n },
    ]);
    expect(decodeDeviceMessage(msg('tele/plug1/SENSOR', '{"ENERGY":{"Power":1}}'), devices?.decoders, rules)).toEqual([
      { measurement: 'tasmota', tags: { device: 'plug1', sensor: 'ENERGY' }, fields: { power: 1 }, time: 5n },
    ]);
    expect(
      decodeDeviceMessage({ ...msg('sds', ''), sourceId: 'sds', payload: Buffer.from('aac0d4043a0aa1601dac', 'hex') }, devices?.decoders, rules),
    ).toMatchObject({ kind: 'decode_error', reason: 'bad_frame' });
  });

  it("logs a device's state once per change", () => {
    const lines: string[] = [];
    const logger = { info: (_o: unknown, m: string) => lines.push(m) } as unknown as Logger;
    const log = new DeviceStatusLog(logger, new Counters());
    const s = (state: DeviceStatus['state']): DeviceStatus => ({
      kind: 'device_status',
      profile: 'tasmota',
      device: 'p',
      state,
      raw: state,
      tags: {},
      time: 1n,
    });
    for (const st of ['online', 'online', 'offline', 'offline', 'online'] as const) log.observe(s(st));
    expect(lines).toEqual(['device p (tasmota): online', 'device p (tasmota): offline', 'device p (tasmota): online']);
  });
});
