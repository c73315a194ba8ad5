/**
 * Decoder and field-layer details beyond the vendor fixtures (profile-fixtures.test.ts):
 * local times and zones, unit conversion, type coercion, memory bounds, matching order.
 */
import { describe, expect, it } from 'vitest';
import { parseIsoNs } from '../../src/devices/timestamps.js';
import { DECODERS } from '../../src/devices/profiles/decoders/index.js';
import { localTimeToNs, isValidZone } from '../../src/devices/profiles/decoders/local-time.js';
import { splitCsv } from '../../src/devices/profiles/decoders/lines.js';
import { DeviceDecoders, checkBindings } from '../../src/devices/profiles/device-decoders.js';
import { coerce, compileFields, snakeCase } from '../../src/devices/profiles/fields.js';
import { parseProfileText } from '../../src/devices/profiles/load.js';
import type { Profile } from '../../src/devices/profiles/profile.js';
import { BoundedMemory, deviceStatusReading, type DeviceStatus, type FormatResult, type RawRecord } from '../../src/devices/profiles/types.js';
import type { ConfigIssue } from '../../src/config/load.js';
import type { RawMessage, Reading } from '../../src/types.js';

const ARRIVAL = 1_705_322_400_000_000_000n;
const ns = (iso: string) => parseIsoNs(iso) as bigint;

function decode(
  name: string,
  params: unknown,
  topic: string,
  payload: string | Buffer,
  memory = new BoundedMemory(),
  captures: Record<string, string> = {},
): FormatResult {
  const def = DECODERS.get(name);
  if (def === undefined) throw new Error(name);
  const fn = def.create(def.params.parse(params), { declared: new Map() });
  return fn({ topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, receivedAt: ARRIVAL, captures, memory });
}

function records(r: FormatResult): RawRecord[] {
  if (!Array.isArray(r)) throw new Error(`${r.reason}: ${r.message}`);
  return r;
}

function profile(yaml: string): Profile {
  const errors: ConfigIssue[] = [];
  const p = parseProfileText(yaml, 'p.yaml', 'user', errors);
  if (p === undefined) throw new Error(JSON.stringify(errors));
  return p;
}

const msg = (topic: string, payload: string, sourceId = 'broker'): RawMessage => ({
  sourceId,
  topic,
  payload: Buffer.from(payload),
  receivedAt: ARRIVAL,
  ack: () => {},
});

describe('local times (Tasmota "Time")', () => {
  it('reads a wall time in an IANA zone, following daylight saving time', () => {
    expect(localTimeToNs('2024-01-15T12:34:56', 'Europe/Berlin')).toBe(ns('2024-01-15T11:34:56Z'));
    expect(localTimeToNs('2024-07-15T12:34:56', 'Europe/Berlin')).toBe(ns('2024-07-15T10:34:56Z'));
    expect(localTimeToNs('2024-07-15T12:34:56', 'America/New_York')).toBe(ns('2024-07-15T16:34:56Z'));
  });

  it('takes the earlier instant in a repeated hour and the old offset in a skipped one', () => {
    // Berlin, 2024-10-27: 02:30 happens twice (CEST then CET).
    expect(localTimeToNs('2024-10-27T02:30:00', 'Europe/Berlin')).toBe(ns('2024-10-27T00:30:00Z'));
    // Berlin, 2024-03-31: 02:30 does not exist; read with +01:00.
    expect(localTimeToNs('2024-03-31T02:30:00', 'Europe/Berlin')).toBe(ns('2024-03-31T01:30:00Z'));
  });

  it('fixed offsets, UTC, and times that carry their own offset', () => {
    expect(localTimeToNs('2024-01-15T12:00:00', '+05:30')).toBe(ns('2024-01-15T06:30:00Z'));
    expect(localTimeToNs('2024-01-15T12:00:00', '-0800')).toBe(ns('2024-01-15T20:00:00Z'));
    expect(localTimeToNs('2024-01-15T12:00:00', 'UTC')).toBe(ns('2024-01-15T12:00:00Z'));
    expect(localTimeToNs('2024-01-15T12:00:00+01:00', 'America/New_York')).toBe(ns('2024-01-15T11:00:00Z'));
    expect(localTimeToNs('not a time', 'UTC')).toBeUndefined();
    expect(isValidZone('Mars/Olympus')).toBe(false);
    expect(isValidZone('Europe/Berlin')).toBe(true);
  });
});

describe('tasmota decoder', () => {
  const sensor = '{"Time":"2024-01-15T12:34:56","AM2301":{"Temperature":21.3,"Humidity":45.2},"TempUnit":"C"}';

  it('ignores Time by default, reads it in the configured zone otherwise', () => {
    expect(records(decode('tasmota', {}, 'tele/x/SENSOR', sensor))[0]?.time).toBeUndefined();
    expect(records(decode('tasmota', { time_zone: 'Europe/Berlin' }, 'tele/x/SENSOR', sensor))[0]?.time).toBe(ns('2024-01-15T11:34:56Z'));
    expect(decode('tasmota', { time_zone: 'UTC' }, 'tele/x/SENSOR', '{"Time":"yesterday","A":{"B":1}}')).toMatchObject({ reason: 'invalid_timestamp' });
    expect(DECODERS.get('tasmota')?.params.safeParse({ time_zone: 'Nowhere/City' }).success).toBe(false);
  });

  it('converts to Fahrenheit on request and leaves values alone with as_sent', () => {
    expect(records(decode('tasmota', { temperature_unit: 'F' }, 't', sensor))[0]?.values.Temperature).toBe(70.34);
    expect(records(decode('tasmota', { temperature_unit: 'as_sent' }, 't', sensor.replace('"C"', '"F"')))[0]?.values.Temperature).toBe(21.3);
  });
});

describe('field layer', () => {
  it('types declared values and never sniffs undeclared strings', () => {
    const f = compileFields({
      fields: [
        { name: 'temperature', type: 'float' },
        { name: 'lqi', from: 'linkquality', type: 'integer' },
        { name: 'on', from: 'state', type: 'boolean', map: { ON: true, OFF: false } },
        { name: 'raw', type: 'float', scale: 0.1, offset: -40 },
      ],
      other_fields: 'keep',
      drop: ['secret', 'update_*'],
      field_names: 'as_is',
    });
    expect(f.apply({ temperature: '21.5', linkquality: '96', state: 'ON', raw: 650, mode: '1', update_state: 'idle', secret: 1 })).toEqual({
      temperature: 21.5,
      lqi: 96n,
      on: true,
      raw: 25,
      mode: '1',
    });
    expect(f.apply({ state: 'DIM' })).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('map has ON, OFF') });
    expect(f.apply({ linkquality: 9.5 })).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('not a whole number') });
    expect(f.apply({ temperature: 'NaN' })).toMatchObject({ reason: 'wrong_type' });
    expect(f.apply({ temperature: true })).toMatchObject({ reason: 'wrong_type' });
  });

  it('numeric_strings: float writes undeclared decimal strings as floats, so a number sent now as a string and now as a number keeps one type', () => {
    const opts = { fields: [{ name: 'action', type: 'string' as const }], other_fields: 'keep' as const, drop: [], field_names: 'as_is' as const };
    const f = compileFields({ ...opts, numeric_strings: 'float' });
    const asStrings = f.apply({ humidity: '65.83', big: ' 1e3 ', neg: '-0.5', word: 'single', hex: '0x10', empty: '', action: '1', inf: 'Infinity' });
    expect(asStrings).toEqual({ humidity: 65.83, big: 1000, neg: -0.5, word: 'single', hex: '0x10', empty: '', action: '1', inf: 'Infinity' });
    const asNumbers = f.apply({ humidity: 65.83, big: 1000, neg: -0.5, action: 1 });
    for (const k of ['humidity', 'big', 'neg', 'action'] as const)
      expect(typeof (asNumbers as Record<string, unknown>)[k]).toBe(typeof (asStrings as Record<string, unknown>)[k]);
    expect(f.apply({ humidity: '1e400' })).toEqual({ kind: 'decode_error', reason: 'wrong_type', message: 'field "humidity": number out of range' });
    // Without it (the default), undeclared strings stay strings.
    expect(compileFields(opts).apply({ humidity: '65.83' })).toEqual({ humidity: '65.83' });
  });

  it('integers: beyond int64 rejected, scale must stay whole; strings from anything', () => {
    expect(coerce({ name: 'i', type: 'integer' }, '9223372036854775808')).toMatchObject({ reason: 'wrong_type' });
    expect(coerce({ name: 'i', type: 'integer' }, '-9223372036854775808')).toBe(-9223372036854775808n);
    expect(coerce({ name: 'i', type: 'integer', scale: 0.5 }, 3)).toMatchObject({ reason: 'wrong_type' });
    expect(coerce({ name: 's', type: 'string' }, 12.5)).toBe('12.5');
    expect(coerce({ name: 'b', type: 'boolean' }, 'true')).toBe(true);
  });

  it('snake_case names', () => {
    expect(['ApparentPower', 'TVOC', 'eCO2', 'Temperature1', 'Power_1', 'PM2.5', 'DS18B20'].map(snakeCase)).toEqual([
      'apparent_power',
      'tvoc',
      'e_co2',
      'temperature1',
      'power_1',
      'pm2_5',
      'ds18_b20',
    ]);
  });
});

describe('line decoders', () => {
  it('key_value with other separators', () => {
    expect(records(decode('key_value', { kv_separator: ':', pair_separators: '|' }, 'p', 'T:21.5|H:40'))).toEqual([{ values: { T: 21.5, H: 40 } }]);
    expect(records(decode('key_value', { non_numeric: 'string' }, 'p', 'state=OK t=1'))).toEqual([{ values: { state: 'OK', t: 1 } }]);
    expect(records(decode('key_value', { non_numeric: 'drop' }, 'p', 'state=OK t=1'))).toEqual([{ values: { t: 1 } }]);
  });

  it('csv with fixed columns and a time column', () => {
    const p = { columns: ['ts', 'temp'], time_column: 'ts', time_unit: 's' };
    expect(records(decode('csv', p, 'p', 'ts,temp'))).toEqual([]);
    expect(records(decode('csv', p, 'p', '1705322399.5,21.5'))).toEqual([{ values: { temp: 21.5 }, time: ns('2024-01-15T12:39:59.5Z') }]);
    expect(decode('csv', p, 'p', 'soon,21.5')).toMatchObject({ reason: 'invalid_timestamp' });
    expect(splitCsv('a,"b,""c""",d', ',')).toEqual(['a', 'b,"c"', 'd']);
    expect(splitCsv('"a"x,b', ',')).toBeUndefined();
  });

  it('csv remembers a header per port', () => {
    const memory = new BoundedMemory();
    records(decode('csv', {}, 'port-a', 'a,b', memory));
    expect(records(decode('csv', {}, 'port-a', '1,2', memory))).toEqual([{ values: { a: 1, b: 2 } }]);
    expect(decode('csv', {}, 'port-b', '1,2', memory)).toMatchObject({ reason: 'missing_schema' });
  });
});

describe('homie5 decoder memory', () => {
  const desc = '{"homie":"5.0","nodes":{"n":{"properties":{"p":{"datatype":"integer"}}}}}';

  it('an empty $description forgets the device; memory is a bounded LRU', () => {
    const memory = new BoundedMemory(2);
    const cap = (device: string) => ({ device, node: 'n', property: 'p' });
    for (const d of ['d1', 'd2', 'd3']) records(decode('homie5', {}, `homie/5/${d}/$description`, desc, memory, { device: d }));
    expect(memory.size).toBe(2);
    expect(decode('homie5', {}, 'homie/5/d1/n/p', '1', memory, cap('d1'))).toMatchObject({ reason: 'missing_schema' });
    expect(records(decode('homie5', {}, 'homie/5/d3/n/p', '7', memory, cap('d3')))).toEqual([{ values: { p: 7n }, tags: { node: 'n' } }]);
    records(decode('homie5', {}, 'homie/5/d3/$description', Buffer.alloc(0), memory, { device: 'd3' }));
    expect(decode('homie5', {}, 'homie/5/d3/n/p', '7', memory, cap('d3'))).toMatchObject({ reason: 'missing_schema' });
  });
});

describe('DeviceDecoders', () => {
  const a = profile(
    'name: a\ndescription: d\nvars: { base: x }\nmqtt:\n  topics: ["%base%/{device}/data"]\n  availability: [{ topic: "%base%/{device}/lwt", online: "1", offline: "0" }]\ndecode: { decoder: json }\nmeasurement: "m_{device}"\ntags: { kind: "k-{device}" }\n',
  );
  const b = profile('name: b\ndescription: d\nmqtt:\n  topics: ["x/+/data", "y/{device}"]\ndecode: { decoder: json }\nmeasurement: m\n');

  it('subscription filters per binding with vars, matching, measurement and tags', () => {
    const dd = new DeviceDecoders({ mqtt: [{ profile: a, vars: { base: 'site1' }, tags: { site: 'home', kind: 'override' } }] });
    expect(dd.filters()).toEqual(['site1/+/data', 'site1/+/lwt']);
    expect(dd.matches({ sourceId: 'broker', topic: 'site1/t1/data' })).toBe(true);
    expect(dd.decode(msg('x/t1/data', '{"v":1}'))).toBeUndefined();
    expect(dd.decode(msg('site1/t1/data', '{"v":1}'))).toEqual([
      { measurement: 'm_t1', tags: { device: 't1', kind: 'override', site: 'home' }, fields: { v: 1 }, time: ARRIVAL },
    ]);
    const st = dd.decode(msg('site1/t1/lwt', '0')) as DeviceStatus;
    expect(st).toEqual({
      kind: 'device_status',
      profile: 'a',
      device: 't1',
      state: 'offline',
      raw: '0',
      tags: { device: 't1', kind: 'override', site: 'home' },
      time: ARRIVAL,
    });
    expect(deviceStatusReading(st)).toEqual({
      measurement: 'device_status',
      tags: { device: 't1', kind: 'override', site: 'home', profile: 'a' },
      fields: { state: 'offline', online: false },
      time: ARRIVAL,
    });
  });

  it("a topic's readings share one frozen tags object per series, and each series keeps its own tags", () => {
    const t = profile(
      'name: t\ndescription: d\nmqtt:\n  topics: ["tele/{device}/SENSOR"]\ndecode: { decoder: tasmota }\nmeasurement: "tasmota_{device}"\ntags: { kind: "k-{sensor}" }\n',
    );
    const dd = new DeviceDecoders({ mqtt: [{ profile: t, tags: { site: 'home' } }] });
    const payload = '{"AM2301":{"Temperature":21.5},"DS18B20":{"Id":"0316","Temperature":20},"Switch1":"ON"}';
    const first = dd.decode(msg('tele/t1/SENSOR', payload)) as Reading[];
    const second = dd.decode(msg('tele/t1/SENSOR', payload.replace('21.5', '22'))) as Reading[];
    const other = dd.decode(msg('tele/t2/SENSOR', payload)) as Reading[];
    expect(first.map((r) => [r.measurement, r.tags])).toEqual([
      ['tasmota_t1', { sensor: 'AM2301', device: 't1', kind: 'k-AM2301', site: 'home' }],
      ['tasmota_t1', { sensor: 'DS18B20', sensor_id: '0316', device: 't1', kind: 'k-DS18B20', site: 'home' }],
      ['tasmota_t1', { device: 't1', kind: 'k-', site: 'home' }],
    ]);
    expect(second.map((r) => r.fields.Temperature)).toEqual([22, 20, undefined]);
    for (let i = 0; i < 3; i++) {
      expect(second[i]?.tags).toBe(first[i]?.tags);
      expect(Object.isFrozen(first[i]?.tags)).toBe(true);
    }
    expect(other[0]?.tags).toEqual({ sensor: 'AM2301', device: 't2', kind: 'k-AM2301', site: 'home' });
    // A sensor id that changes is another series, with its own tags.
    const moved = dd.decode(msg('tele/t1/SENSOR', payload.replace('0316', '0999'))) as Reading[];
    expect(moved[1]?.tags).toEqual({ sensor: 'DS18B20', sensor_id: '0999', device: 't1', kind: 'k-DS18B20', site: 'home' });
    expect((dd.decode(msg('tele/t1/SENSOR', payload)) as Reading[])[1]?.tags).toBe(first[1]?.tags);
  });

  it("a record finds its topic's series whatever order the records come in, and a topic with more than 64 series still decodes every one", () => {
    const t = profile('name: t\ndescription: d\nmqtt:\n  topics: ["tele/{device}/SENSOR"]\ndecode: { decoder: tasmota }\nmeasurement: tasmota\n');
    const dd = new DeviceDecoders({ mqtt: [{ profile: t }] });
    const sensors = Array.from({ length: 70 }, (_, i) => `S${i}`);
    const payload = (names: string[]) => `{${names.map((n, i) => `"${n}":{"Temperature":${i}}`).join(',')},"Switch1":"ON"}`;
    const first = dd.decode(msg('tele/t1/SENSOR', payload(sensors))) as Reading[];
    const reversed = dd.decode(msg('tele/t1/SENSOR', payload([...sensors].reverse()))) as Reading[];
    const again = dd.decode(msg('tele/t1/SENSOR', payload(sensors))) as Reading[];
    expect(first.map((r) => r.tags)).toEqual([...sensors.map((s) => ({ sensor: s, device: 't1' })), { device: 't1' }]);
    expect(reversed.map((r) => r.tags)).toEqual([...[...sensors].reverse().map((s) => ({ sensor: s, device: 't1' })), { device: 't1' }]);
    expect(again.map((r) => r.tags)).toEqual(first.map((r) => r.tags));
    // The first 64 series are kept: the same frozen tags object in every message, in any order.
    for (let i = 0; i < 64; i++) {
      expect(again[i]?.tags).toBe(first[i]?.tags);
      expect(reversed[69 - i]?.tags).toBe(first[i]?.tags);
    }
    // Past them, a series is rendered for its reading (equal, not kept).
    expect(again[69]?.tags).not.toBe(first[69]?.tags);
  });

  it('series of different topics with the same record tags share them, and tags that only spell alike are not taken for each other', () => {
    const t = profile('name: t\ndescription: d\nmqtt:\n  topics: ["tele/{device}/SENSOR"]\ndecode: { decoder: tasmota }\nmeasurement: tasmota\n');
    const dd = new DeviceDecoders({ mqtt: [{ profile: t }] });
    // Joined with NUL separators both read "sensor NUL A NUL sensor_id NUL x NUL".
    const odd = dd.decode(msg('tele/t1/SENSOR', '{"A\\u0000sensor_id\\u0000x":{"Temperature":1}}')) as Reading[];
    const plain = dd.decode(msg('tele/t2/SENSOR', '{"A":{"Id":"x","Temperature":2}}')) as Reading[];
    const again = dd.decode(msg('tele/t3/SENSOR', '{"A":{"Id":"x","Temperature":3}}')) as Reading[];
    expect(odd[0]?.tags).toEqual({ sensor: 'A\u0000sensor_id\u0000x', device: 't1' });
    expect(plain[0]?.tags).toEqual({ sensor: 'A', sensor_id: 'x', device: 't2' });
    expect(again[0]?.tags).toEqual({ sensor: 'A', sensor_id: 'x', device: 't3' });
  });

  it('finds entries whose topics an earlier entry always takes', () => {
    expect(checkBindings({ mqtt: [{ profile: a }, { profile: b }] })).toEqual([
      { path: ['devices', 1], message: 'topic "x/+/data" is never decoded by this entry: devices[0] matches it first' },
    ]);
    expect(checkBindings({ mqtt: [{ profile: a, vars: { base: 'z' } }, { profile: b }] })).toEqual([]);
  });

  it('payload limit, and a decoder bug becomes internal_error', () => {
    const dd = new DeviceDecoders({ mqtt: [{ profile: b }], maxPayload: 10 });
    expect(dd.decode(msg('y/d', '{"v":12345678}'))).toMatchObject({ reason: 'payload_too_large' });
    const broken = {
      ...b,
      decoder: {
        ...b.decoder,
        create: () => () => {
          throw new Error('boom');
        },
      },
    };
    expect(new DeviceDecoders({ mqtt: [{ profile: broken }] }).decode(msg('y/d', '{}'))).toMatchObject({
      reason: 'internal_error',
      message: expect.stringContaining('boom'),
    });
  });

  it('units: the declared fields that name one, for the binding a message (data or availability topic, serial port) decodes with', () => {
    const u = profile(
      'name: u\ndescription: d\nmqtt:\n  topics: ["u/{device}/data"]\n  availability: [{ topic: "u/{device}/lwt", online: "1", offline: "0" }]\ndecode: { decoder: json }\nmeasurement: m\nfields:\n  - { name: temperature, from: T, type: float, unit: °C }\n  - { name: count, type: integer }\n',
    );
    const su = profile(
      'name: su\ndescription: d\nserial: { framing: { type: byte_length, length: 10 } }\ndecode: { decoder: sds011 }\nmeasurement: pm\nfields:\n  - { name: pm2_5, type: float, unit: µg/m³ }\n',
    );
    const dd = new DeviceDecoders({ mqtt: [{ profile: b }, { profile: u }], serial: [{ port: 'sds', profile: su }] });
    expect(dd.units({ sourceId: 'broker', topic: 'u/t1/data' })).toEqual({ temperature: '°C' });
    expect(dd.units({ sourceId: 'broker', topic: 'u/t1/lwt' })).toEqual({ temperature: '°C' });
    expect(dd.units({ sourceId: 'broker', topic: 'y/t1' })).toBeUndefined(); // b declares no unit
    expect(dd.units({ sourceId: 'broker', topic: 'nothing/here' })).toBeUndefined();
    expect(dd.units({ sourceId: 'sds', topic: 'sds' })).toEqual({ pm2_5: 'µg/m³' });
  });

  it('serial messages match by port id (source id and topic)', () => {
    const sds = profile('name: s\ndescription: d\nserial: { framing: { type: byte_length, length: 10 } }\ndecode: { decoder: sds011 }\nmeasurement: pm\n');
    const dd = new DeviceDecoders({ serial: [{ port: 'sds', profile: sds, tags: { room: 'lab' } }] });
    const frame = Buffer.from('aac0d4043a0aa1601dab', 'hex');
    expect(dd.decode({ ...msg('sds', ''), sourceId: 'sds', payload: frame })).toEqual([
      { measurement: 'pm', tags: { sensor_id: 'a160', device: 'sds', room: 'lab' }, fields: { pm2_5: 123.6, pm10: 261.8 }, time: ARRIVAL },
    ]);
    expect(dd.decode({ ...msg('sds', ''), sourceId: 'mqtt1', payload: frame })).toBeUndefined();
    expect(dd.filters()).toEqual([]);
  });
});
