import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { devicesCommand } from '../../src/cli/devices.js';
import { tempDir } from '../helpers/net.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await devicesCommand(args, { write: (s: string) => (out += s) }, { write: (s: string) => (err += s) });
  return { code, out, err };
}

describe('edgeflux devices', () => {
  it('list: every shipped profile with its transport', async () => {
    const r = await run('list');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    for (const name of [
      'generic-json',
      'tasmota',
      'zigbee2mqtt',
      'shelly-gen2',
      'esphome',
      'homie5',
      'sds011',
      'pms5003',
      'mhz19b',
      'nmea-gps',
      'arduino-kv',
      'csv-lines',
    ]) {
      expect(r.out).toMatch(new RegExp(`^${name} +(mqtt|serial) +shipped `, 'm'));
    }
    expect(r.out).toMatch(/12 profiles\./);
  });

  it('show: topics, availability, fields and a config snippet', async () => {
    const z = await run('show', 'zigbee2mqtt');
    expect(z.code).toBe(0);
    expect(z.out).toContain('topics:      zigbee2mqtt/{device}');
    expect(z.out).toContain(
      'availability: zigbee2mqtt/{device}/availability (JSON key "state"): online=online offline=offline → a device status, not a reading',
    );
    expect(z.out).toMatch(/linkquality +integer +lqi/);
    expect(z.out).toContain('devices:\n      - profile: zigbee2mqtt');
    const m = await run('show', 'mhz19b');
    expect(m.out).toContain('polled:      request FF 01 86 00 00 00 00 00 79 every 5s, reply within 1s');
    expect(m.out).toContain('serial:\n      - id: mhz19b');
  });

  it("show: a profile's pipeline, step by step with its effective options", async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    await writeFile(
      join(dir.path, 'th.yaml'),
      'name: th\ndescription: thermometers\nmqtt:\n  topics: ["th/{device}"]\ndecode: { decoder: json }\nmeasurement: climate\npipeline:\n  - deadband: { field: temperature, abs: 0.2, heartbeat: 5m }\n  - throttle: { interval: 90s }\n',
    );
    const s = await run('show', 'th', '--dir', dir.path);
    expect(s.code).toBe(0);
    expect(s.out).toContain(
      "  pipeline:    (before the global pipeline; a devices[] or serial[] entry's own pipeline replaces it)\n" +
        '    - deadband: { abs: 0.2, heartbeat: 5m, fields: [temperature] }\n' +
        '    - throttle: { interval: 1m30s, keep: last }\n',
    );
    expect((await run('show', 'tasmota')).out).not.toContain('pipeline:');
  });

  it('unknown profile and usage errors exit 2', async () => {
    expect(await run('show', 'nope')).toMatchObject({ code: 2, err: expect.stringContaining('no profile "nope"') });
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('show')).code).toBe(2);
    expect((await run('list', '--bogus')).code).toBe(2);
    expect(await run('--help')).toMatchObject({ code: 0, out: expect.stringContaining('edgeflux devices list') });
  });

  it("adds the config's device_profiles.dirs and reports broken user profiles with their place", async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    await mkdir(join(dir.path, 'mine'));
    await writeFile(
      join(dir.path, 'mine', 'garden.yaml'),
      'name: garden\ndescription: my garden probes\nmqtt:\n  topics: ["garden/{device}"]\ndecode: { decoder: json }\nmeasurement: garden\n',
    );
    await writeFile(
      join(dir.path, 'mine', 'bad.yaml'),
      'name: bad\ndescription: x\nmqtt:\n  topics: ["b/{device}"]\ndecode: { decoder: json }\nmeasurement: m\nfields:\n  - { name: t, type: real }\n',
    );
    await writeFile(join(dir.path, 'edgeflux.yaml'), 'device_profiles:\n  dirs: [mine]\n');
    const r = await run('list', '--config', join(dir.path, 'edgeflux.yaml'));
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/^garden +mqtt +user +my garden probes$/m);
    expect(r.err).toContain(`${join(dir.path, 'mine', 'bad.yaml')}:8:16 fields[0].type: expected one of: float, integer, boolean, string`);
    const s = await run('show', 'garden', '--dir', join(dir.path, 'mine'));
    expect(s.out).toContain('garden — my garden probes');
    expect((await run('list', '--config', join(dir.path, 'missing.yaml'))).err).toContain('no such file');
  });
});
