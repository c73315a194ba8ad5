import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatIssue, type ConfigIssue } from '../../src/config/load.js';
import { loadProfiles, parseProfileText, SHIPPED_PROFILES_DIR } from '../../src/devices/profiles/load.js';
import { profileJsonSchema } from '../../src/devices/profiles/schema.js';
import { tempDir } from '../helpers/net.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function problems(text: string): string[] {
  const errors: ConfigIssue[] = [];
  const p = parseProfileText(text, 'my.yaml', 'user', errors);
  expect(p).toBeUndefined();
  return errors.map(formatIssue);
}

const GOOD = `name: my-th
description: my thermometers
mqtt:
  topics: ["home/{room}/th"]
decode:
  decoder: json
measurement: climate
fields:
  - { name: temperature, unit: °C }
`;

describe('profile files: validation with file:line:column and key', () => {
  it('accepts a minimal profile and applies defaults', () => {
    const errors: ConfigIssue[] = [];
    const p = parseProfileText(GOOD, 'my.yaml', 'user', errors);
    expect(errors).toEqual([]);
    expect(p?.spec).toMatchObject({ name: 'my-th', other_fields: 'keep', time: 'payload', fields: [{ name: 'temperature', type: 'float', unit: '°C' }] });
    expect(p?.params).toMatchObject({ separator: '_', time_unit: 'ms' });
  });

  it('reports YAML syntax errors at their place', () => {
    expect(problems('name: x\n  bad: [\n')[0]).toMatch(/^my\.yaml:1:7: Nested mappings/);
  });

  it('reports unknown keys, wrong types and enums at their key', () => {
    const text = GOOD.replace('measurement: climate', 'measurment: climate').replace('unit: °C }', 'unit: °C, type: double }');
    expect(problems(text)).toEqual([
      'my.yaml:1:1 measurement: required',
      'my.yaml:7:1 measurment: unknown key "measurment"',
      'my.yaml:9:36 fields[0].type: expected one of: float, integer, boolean, string',
    ]);
  });

  it('checks decoder names and params against the decoder (decode.params.<key>)', () => {
    expect(problems(GOOD.replace('decoder: json', 'decoder: jsn'))).toEqual([
      expect.stringMatching(/^my\.yaml:6:3 decode\.decoder: unknown decoder "jsn" \(one of: json, tasmota/),
    ]);
    const bad = GOOD.replace('decoder: json', 'decoder: json\n  params:\n    time_unit: hours\n    tag_key: [x]');
    expect(problems(bad)).toEqual([
      'my.yaml:8:5 decode.params.time_unit: expected one of: s, ms, us, ns, iso',
      'my.yaml:9:5 decode.params.tag_key: unknown key "tag_key"',
    ]);
  });

  it('checks templates, availability topics and field types', () => {
    const text = `name: t
description: d
mqtt:
  topics: ["a/{device}/x", "b/{device}/{kind}"]
  availability:
    - topic: "a/lwt"
      online: up
decode: { decoder: json }
measurement: "{kind}"
tags: { site: "{nowhere}" }
fields:
  - { name: v, type: float }
  - { name: v, from: w, type: integer }
  - { name: s, type: string, scale: 2 }
`;
    expect(problems(text)).toEqual([
      'my.yaml:6:7 mqtt.availability[0].topic: an availability topic needs a {device} level',
      'my.yaml:9:1 measurement: {kind} is neither a capture of every topic nor a tag of decoder "json" (known: device, site)',
      'my.yaml:10:9 tags.site: {nowhere} is neither a capture of every topic nor a tag of decoder "json" (known: device, site)',
      'my.yaml:13:25 fields[1].type: field "v" is float at fields[0]: a field keeps one type',
      'my.yaml:14:30 fields[2].scale: applies to numbers only, not string fields',
    ]);
  });

  it('needs exactly one of mqtt and serial, and a framing for serial', () => {
    expect(problems('name: t\ndescription: d\ndecode: { decoder: json }\nmeasurement: m\n')).toEqual([
      'my.yaml:1:1: a profile has exactly one of mqtt and serial',
    ]);
    expect(problems('name: t\ndescription: d\nserial: { baud_rate: 9600 }\ndecode: { decoder: sds011 }\nmeasurement: m\n')).toEqual([
      'my.yaml:3:1 serial.framing: required: how the byte stream is cut into frames',
    ]);
    expect(problems('name: t\ndescription: d\nserial: { framing: { type: byte_length, length: 10 } }\ndecode: { decoder: tasmota }\nmeasurement: m\n')).toEqual(
      ['my.yaml:4:11 decode.decoder: decoder "tasmota" reads mqtt messages, but this is a serial profile'],
    );
  });

  it('exports a JSON Schema for editors', () => {
    const s = profileJsonSchema() as { title: string; properties: Record<string, unknown>; required: string[] };
    expect(s.title).toBe('edgeflux device profile');
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(['name', 'mqtt', 'serial', 'decode', 'fields', 'pipeline']));
    expect(s.required).toEqual(expect.arrayContaining(['name', 'description', 'decode', 'measurement']));
  });

  it('reports %vars% that a topic uses but the profile does not define', () => {
    expect(problems(GOOD.replace('home/{room}/th', '%base%/{room}/th'))).toEqual(['my.yaml:4:12 mqtt.topics[0]: %base% is not defined in vars']);
  });
});

describe('loadProfiles', () => {
  it('loads every shipped profile without errors', async () => {
    const r = await loadProfiles();
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.catalog.profiles.size).toBe(12);
    expect(SHIPPED_PROFILES_DIR).toMatch(/devices\/$/);
  });

  it('adds user profiles; one named like a shipped profile replaces it; duplicates and broken files are errors', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    await mkdir(join(dir.path, 'a'));
    await mkdir(join(dir.path, 'b'));
    await writeFile(join(dir.path, 'a', 'my-th.yaml'), GOOD);
    await writeFile(join(dir.path, 'a', 'tasmota.yml'), GOOD.replace('name: my-th', 'name: tasmota'));
    await writeFile(join(dir.path, 'a', 'notes.txt'), 'not a profile');
    await writeFile(join(dir.path, 'b', 'again.yaml'), GOOD);
    await writeFile(join(dir.path, 'b', 'broken.yaml'), 'name: [');
    const r = await loadProfiles({ dirs: ['a', 'b', 'missing'], baseDir: dir.path });
    expect(r.ok).toBe(false);
    expect(r.catalog.profiles.get('my-th')?.origin).toBe('user');
    expect(r.catalog.profiles.get('tasmota')?.spec.description).toBe('my thermometers');
    expect(r.catalog.replaced.get('tasmota')).toBe(join(dir.path, 'a', 'tasmota.yml'));
    const msgs = r.ok ? [] : r.errors.map(formatIssue);
    expect(msgs).toEqual([
      expect.stringMatching(/b\/again\.yaml:1:1 name: duplicate profile "my-th" \(also in .*a\/my-th\.yaml\)$/),
      expect.stringMatching(/b\/broken\.yaml:1:\d+: /),
      expect.stringMatching(/missing: cannot read the profile directory: no such directory$/),
    ]);
  });
});
