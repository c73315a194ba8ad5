/**
 * The fast way of profile decoding (`FormatFn.into` → reading-writer.ts: values straight
 * into the readings) against the records way (decoder records → field layer → readings),
 * which every decoder has: for the Tasmota and JSON (Zigbee2MQTT) decoders, through whole
 * DeviceDecoders, message after message (so that the plans and series kept by position
 * are found again, and missed when the shape changes), the same readings (field order,
 * -0, types, tags, measurement, time) or the same error (reason and message), on
 * realistic, random and hostile payloads; and the fast way takes the realistic ones itself.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeviceDecoders, type MqttBindingConfig } from '../../src/devices/profiles/device-decoders.js';
import type { FormatFn } from '../../src/devices/profiles/decoders/index.js';
import type { RecordSink } from '../../src/devices/profiles/decoders/decoder.js';
import { loadProfiles, parseProfileText, type ProfileCatalog } from '../../src/devices/profiles/load.js';
import type { Profile } from '../../src/devices/profiles/profile.js';
import type { DeviceDecodeResult } from '../../src/devices/profiles/types.js';
import type { ConfigIssue } from '../../src/config/load.js';
import type { MessageData } from '../../src/types.js';

const ARRIVAL = 1_705_322_400_000_000_000n;

/** The profile with its decoder's fast way taken away: every message goes the records way. */
function recordsOnly(p: Profile): Profile {
  const create = p.decoder.create.bind(p.decoder);
  return {
    ...p,
    decoder: {
      ...p.decoder,
      create: (params, ctx) =>
        (
          (fn: FormatFn) => (input: Parameters<FormatFn>[0]) =>
            fn(input)
        )(create(params, ctx)),
    },
  };
}

/** The profile, counting the messages its fast way takes (`taken`) and declines (none without one). */
function counted(p: Profile, n: { taken: number; declined: number }): Profile {
  const create = p.decoder.create.bind(p.decoder);
  return {
    ...p,
    decoder: {
      ...p.decoder,
      create: (params, ctx) => {
        const fn = create(params, ctx);
        const into = fn.into;
        if (into === undefined) return fn; // (a variant without the fast way: bench/tricks)
        return Object.assign((input: Parameters<FormatFn>[0]) => fn(input), {
          into: (payload: Buffer, sink: RecordSink) => {
            const done = into(payload, sink);
            if (done) n.taken++;
            else n.declined++;
            return done;
          },
        });
      },
    },
  };
}

function profile(yaml: string): Profile {
  const errors: ConfigIssue[] = [];
  const p = parseProfileText(yaml, 'p.yaml', 'user', errors);
  if (p === undefined) throw new Error(JSON.stringify(errors));
  return p;
}

/** A canonical text of a result: key order, -0, non-finite numbers, bigints and `__proto__` keys all show. */
function show(r: DeviceDecodeResult | undefined): string {
  return JSON.stringify(r, (_k, v: unknown) => {
    if (typeof v === 'number' && Object.is(v, -0)) return '-0';
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      return Object.fromEntries(Object.keys(v).map((k) => [`k:${k}`, (v as Record<string, unknown>)[k]]));
    return v;
  });
}

const msg = (topic: string, text: string | Buffer): MessageData => ({ sourceId: 'broker', topic, payload: Buffer.from(text), receivedAt: ARRIVAL });

/** Both ways side by side, and how often the fast way took a message. */
function pair(bindings: (p: (x: Profile) => Profile) => MqttBindingConfig[]) {
  const n = { taken: 0, declined: 0 };
  const fast = new DeviceDecoders({ mqtt: bindings((x) => counted(x, n)) });
  const slow = new DeviceDecoders({ mqtt: bindings(recordsOnly) });
  return {
    n,
    same: (topic: string, text: string | Buffer) => expect(show(fast.decode(msg(topic, text))), String(text)).toBe(show(slow.decode(msg(topic, text)))),
  };
}

let catalog: ProfileCatalog;
beforeAll(async () => {
  const r = await loadProfiles();
  expect(r.ok, r.ok ? '' : JSON.stringify(r.errors)).toBe(true);
  catalog = r.catalog;
});
const shipped = (name: string): Profile => catalog.profiles.get(name) as Profile;

/** A Tasmota profile that uses every part of the field layer, a local time and the decoder's tags. */
const TASMOTA_TYPED = `
name: tasmota-typed
description: d
mqtt: { topics: ["t/{device}/SENSOR"] }
decode: { decoder: tasmota, params: { time_zone: UTC, temperature_unit: F } }
measurement: "m_{sensor}"
tags: { where: "{device}-{sensor_id}" }
drop_tags: [sensor_id]
field_names: snake_case
fields:
  - { name: temperature, from: Temperature }
  - { name: count, from: C1, type: integer }
  - { name: on, from: Switch1, type: boolean, map: { ON: true, OFF: false } }
  - { name: label, from: Label, type: string }
  - { name: power_w, from: Power, scale: 0.001, offset: 1 }
  - { name: temperature, from: Temperature1 }
drop: [Period, "Total*"]
`;

/** Tasmota-like messages with realistic shapes and values (optional sensors, ids, units, times). */
const tasmotaMessage = fc
  .record({
    time: fc.option(fc.constantFrom('"2026-12-06T02:35:05"', '"2024-07-15T12:00:00"', '"x"', '5', 'null'), { nil: undefined }),
    energy: fc.option(
      fc.record({
        total: fc.double({ min: 0, max: 1e5, noNaN: true }),
        power: fc.oneof(fc.integer({ min: 0, max: 4000 }).map(String), fc.constant('[3,5]'), fc.constant('"12"')),
        factor: fc.constantFrom('0.97', '1', '-0', '"x"'),
      }),
      { nil: undefined },
    ),
    am: fc.option(fc.tuple(fc.double({ min: -40, max: 60, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true })), { nil: undefined }),
    ds: fc.option(fc.constantFrom('"0316A2790D1A"', '"0999"', '42', 'true', 'null'), { nil: undefined }),
    c1: fc.option(fc.oneof(fc.integer().map(String), fc.constantFrom('1.5', '"7"', '9223372036854775808')), { nil: undefined }),
    sw: fc.option(fc.constantFrom('"ON"', '"OFF"', '"DIM"', 'true'), { nil: undefined }),
    label: fc.option(fc.constantFrom('"a"', '5', '"__proto__"'), { nil: undefined }),
    unit: fc.option(fc.constantFrom('"C"', '"F"', '"K"'), { nil: undefined }),
    press: fc.option(fc.constantFrom('"hPa"', '"mmHg"', '"psi"'), { nil: undefined }),
  })
  .map((m) => {
    const parts: string[] = [];
    if (m.time !== undefined) parts.push(`"Time":${m.time}`);
    if (m.energy !== undefined)
      parts.push(
        `"ENERGY":{"TotalStartTime":"2025-03-14T09:12:44","Total":${m.energy.total},"Period":4,"Power":${m.energy.power},"Factor":${m.energy.factor}}`,
      );
    if (m.am !== undefined) parts.push(`"AM2301":{"Temperature":${m.am[0]},"Humidity":${m.am[1]},"DewPoint":${m.am[0] - 5}}`);
    if (m.ds !== undefined) parts.push(`"DS18B20-1":{"Id":${m.ds},"Temperature":21.3}`);
    if (m.c1 !== undefined) parts.push(`"COUNTER":{"C1":${m.c1}}`);
    if (m.sw !== undefined) parts.push(`"Switch1":${m.sw}`);
    if (m.label !== undefined) parts.push(`"Label":${m.label}`);
    if (m.unit !== undefined) parts.push(`"TempUnit":${m.unit}`);
    if (m.press !== undefined) parts.push(`"BME280":{"Pressure":1013.2,"SeaPressure":1020},"PressureUnit":${m.press}`);
    return `{${parts.join(',')}}`;
  });

/** Random nested JSON with the keys that matter to the decoders and the field layer, hostile ones included. */
function randomJson(keys: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const num = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))),
    fc.constantFrom('1e400', '-0.0', '9007199254740993', '00', '1.', '0x10'),
  );
  const str = fc.oneof(
    fc.constantFrom('"ON"', '"OFF"', '"21.5"', '" 42 "', '"1e400"', '"-0"', '"x"', '""', '"a\\"b"', '"°C"', '"C"', '"F"'),
    fc.string({ maxLength: 4 }).map((s) => JSON.stringify(s)),
  );
  const scalar = fc.oneof(num, str, fc.constantFrom('true', 'false', 'null'));
  const { value } = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('object'), tie('array')),
    object: fc.array(fc.tuple(keys, tie('value')), { maxLength: 5 }).map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    array: fc.array(tie('value'), { maxLength: 3 }).map((vs) => `[${vs.join(',')}]`),
  }));
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.tuple(keys, value), { maxLength: 6 }).map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`) },
    { weight: 1, arbitrary: value },
  );
}

const TASMOTA_KEYS = fc.constantFrom(
  'Time',
  'TempUnit',
  'PressureUnit',
  'Temperature',
  'Temperature1',
  'Pressure',
  'Id',
  'ENERGY',
  'Power',
  'Power_1',
  'C1',
  'Switch1',
  'Label',
  'TotalStartTime',
  'Total',
  'ApparentPower',
  'apparent_power',
  'a',
  'a_b',
  'b',
  '',
  '_',
  '__proto__',
  'é',
);

describe('Tasmota: the fast way gives what the records give', () => {
  const bindings = (wrap: (x: Profile) => Profile): MqttBindingConfig[] => [
    { profile: wrap(shipped('tasmota')), vars: { prefix: 'tele' } },
    { profile: wrap(profile(TASMOTA_TYPED)) },
  ];
  const topics = fc.constantFrom('tele/d1/SENSOR', 'tele/d2/SENSOR', 't/d1/SENSOR', 't/d3/SENSOR');

  it('on realistic messages, one after another, and takes them itself', () => {
    const p = pair(bindings);
    fc.assert(
      fc.property(fc.array(fc.tuple(topics, tasmotaMessage), { minLength: 1, maxLength: 8 }), (msgs) => {
        for (const [topic, text] of msgs) p.same(topic, text);
      }),
      { numRuns: 400, seed: 0x26 },
    );
    expect(p.n.taken / (p.n.taken + p.n.declined)).toBeGreaterThan(0.99);
  });

  it('on random and hostile JSON (keys with the separator, duplicate flattened names, __proto__, Id, units), and takes a good share itself', () => {
    const p = pair(bindings);
    fc.assert(
      fc.property(fc.array(fc.tuple(topics, randomJson(TASMOTA_KEYS)), { minLength: 1, maxLength: 6 }), (msgs) => {
        for (const [topic, text] of msgs) p.same(topic, text);
      }),
      { numRuns: 1500, seed: 0x2626 },
    );
    expect(p.n.taken).toBeGreaterThan(p.n.declined / 4);
  });

  it('on random JSON whose flattened names meet (few keys, with and without the separator)', () => {
    const p = pair(bindings);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(topics, randomJson(fc.constantFrom('a', 'b', 'a_b', 'b_1', '_', '', 'Id', 'Temperature'))), { minLength: 1, maxLength: 4 }),
        (msgs) => {
          for (const [topic, text] of msgs) p.same(topic, text);
        },
      ),
      { numRuns: 1500, seed: 0x2627 },
    );
  });

  it.each([
    ['a name two ways in one record', '{"A":{"a_b":1,"a":{"b":2}}}'],
    ['a top-level scalar named like an array leaf', '{"Power_1":5,"Power":[3,4]}'],
    ['a declared field twice from two source names', '{"AM":{"Temperature":70,"Temperature1":80}}'],
    ['undeclared names that meet in snake_case', '{"E":{"ApparentPower":1,"apparent_power":2}}'],
    ['a sensor whose fields are all dropped, then one with fields', '{"E":{"Period":1},"AM":{"Humidity":1}}'],
    ['only dropped fields', '{"E":{"Period":1,"TotalStartTime":"x"}}'],
    ['a bad declared value after good sensors', '{"AM":{"Temperature":1},"COUNTER":{"C1":1.5}}'],
    ['a number out of range', '{"AM":{"Humidity":1e400}}'],
    ['an unknown unit', '{"AM":{"Temperature":1},"TempUnit":"K"}'],
    ['a bad local time', '{"Time":"x","AM":{"Temperature":1}}'],
    ['no sensor values', '{"Time":"2024-01-15T12:34:56","TempUnit":"C"}'],
    ['an empty sensor', '{"AM":{}}'],
    ['an id that is not a tag', '{"DS":{"Id":true,"Temperature":1}}'],
  ])('%s', (_what, text) => {
    const p = pair(bindings);
    for (const topic of ['tele/d1/SENSOR', 't/d1/SENSOR', 'tele/d1/SENSOR', 't/d1/SENSOR']) p.same(topic, text);
  });

  it('keeps each series found again by position, and a sensor id that changes is another series', () => {
    const dd = new DeviceDecoders({ mqtt: [{ profile: shipped('tasmota'), vars: { prefix: 'tele' } }] });
    const text = (id: string) => `{"AM2301":{"Temperature":21.5},"DS18B20":{"Id":"${id}","Temperature":20},"Switch1":"ON"}`;
    const a = dd.decode(msg('tele/d1/SENSOR', text('0316'))) as { tags: object }[];
    const b = dd.decode(msg('tele/d1/SENSOR', text('0999'))) as { tags: object }[];
    const c = dd.decode(msg('tele/d1/SENSOR', text('0316'))) as { tags: object }[];
    expect(b[0]?.tags).toBe(a[0]?.tags);
    expect(b[1]?.tags).toEqual({ sensor: 'DS18B20', sensor_id: '0999', device: 'd1' });
    expect(c[1]?.tags).toBe(a[1]?.tags);
    expect(c[2]?.tags).toBe(a[2]?.tags);
  });
});

describe('JSON (Zigbee2MQTT): the fast way gives what the records give', () => {
  const TYPED = `
name: json-typed
description: d
mqtt: { topics: ["j/{device}"] }
decode: { decoder: json }
measurement: j
fields:
  - { name: lqi, from: linkquality, type: integer }
  - { name: on, from: state, type: boolean, map: { ON: true, OFF: false } }
  - { name: t, from: temperature, scale: 10 }
other_fields: keep
`;
  const bindings = (wrap: (x: Profile) => Profile): MqttBindingConfig[] => [
    { profile: wrap(shipped('zigbee2mqtt')), vars: { base: 'z' } },
    { profile: wrap(profile(TYPED)) },
  ];
  const topics = fc.constantFrom('z/d1', 'z/d2', 'j/d1', 'j/d2');
  const keys = fc.constantFrom(
    'temperature',
    'humidity',
    'linkquality',
    'battery',
    'state',
    'action',
    'soil_moisture',
    'count',
    'last_seen',
    'update_available',
    'update',
    'color',
    '',
    '__proto__',
  );

  it('on Zigbee2MQTT-like messages, numbers as strings or not, one after another, and takes them itself', () => {
    const p = pair(bindings);
    const value = fc.oneof(
      fc.double({ min: -100, max: 1000, noNaN: true }).map(String),
      fc.double({ min: -100, max: 1000, noNaN: true }).map((d) => JSON.stringify(d.toFixed(2))),
      fc.integer({ min: 0, max: 255 }).map(String),
      fc.constantFrom('true', 'false', '"ON"', '"OFF"', '"single"', '"2026-12-06T02:35:00.000Z"', 'null'),
    );
    const message = fc
      .uniqueArray(fc.tuple(keys, value), { minLength: 1, maxLength: 9, selector: ([k]) => k })
      .map((es) => `{${es.map(([k, v]) => `"${k}":${v}`).join(',')}}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(topics, message), { minLength: 1, maxLength: 8 }), (msgs) => {
        for (const [topic, text] of msgs) p.same(topic, text);
      }),
      { numRuns: 400, seed: 0x22 },
    );
    expect(p.n.taken).toBeGreaterThan(p.n.declined);
  });

  it('on random and hostile JSON', () => {
    const p = pair(bindings);
    fc.assert(
      fc.property(fc.array(fc.tuple(topics, randomJson(keys)), { minLength: 1, maxLength: 6 }), (msgs) => {
        for (const [topic, text] of msgs) p.same(topic, text);
      }),
      { numRuns: 1500, seed: 0x2222 },
    );
  });

  it.each([
    ['nothing but nulls', '{"temperature":null}'],
    ['an empty object', '{}'],
    ['a number out of range', '{"humidity":1e400,"temperature":"hot"}'],
    ['a declared value that does not fit', '{"humidity":1,"temperature":"hot"}'],
    ['only dropped keys', '{"last_seen":"x","update_available":true}'],
    ['an empty key', '{"":1,"humidity":2}'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
    ['not an object', '[1]'],
    ['truncated', '{"humidity":1'],
  ])('%s', (_what, text: string | Buffer) => {
    const p = pair(bindings);
    for (const topic of ['z/d1', 'j/d1', 'z/d1']) p.same(topic, text);
  });
});
