/**
 * The Tasmota decoder's fast path (json-leaves.ts, no JSON.parse) against its JSON.parse +
 * flatten path: the same records, value for value (-0 and key order included), on
 * realistic, random and hostile nested JSON, and the scanner takes the realistic ones itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonLeafScanner, TopKind } from '../../src/devices/json-leaves.js';
import { DECODERS } from '../../src/devices/profiles/decoders/index.js';
import { tasmotaReference } from '../../src/devices/profiles/decoders/tasmota.js';
import { BoundedMemory, type FormatResult } from '../../src/devices/profiles/types.js';

const ARRIVAL = 1_705_322_400_000_000_000n;
type Params = Parameters<typeof tasmotaReference>[0];

function decoders(params: Partial<Params> = {}) {
  const def = DECODERS.get('tasmota');
  if (def === undefined) throw new Error('tasmota');
  const parsed = def.params.parse(params) as Params;
  const fast = def.create(parsed, { declared: new Map() });
  const reference = tasmotaReference(parsed);
  return {
    fast: (b: Buffer) => fast({ topic: 'tele/x/SENSOR', payload: b, receivedAt: ARRIVAL, captures: {}, memory: new BoundedMemory() }),
    reference,
  };
}

/** A canonical text of a result: key order, -0, bigint and prototype-less keys all show. */
function show(r: FormatResult): string {
  return JSON.stringify(r, (_k, v: unknown) => {
    if (typeof v === 'number' && Object.is(v, -0)) return '-0';
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      return Object.fromEntries(Object.keys(v).map((k) => [`k:${k}`, (v as Record<string, unknown>)[k]]));
    return v;
  });
}

const SAMPLE =
  '{"Time":"2026-12-06T02:35:05","ENERGY":{"TotalStartTime":"2025-03-14T09:12:44","Total":512.347,"Yesterday":3.21,"Today":1.005,"Period":4,"Power":1234,' +
  '"ApparentPower":1250,"ReactivePower":17,"Factor":0.97,"Voltage":230,"Current":5.365},"AM2301":{"Temperature":21.5,"Humidity":48.2,"DewPoint":10.1},"COUNTER":{"C1":5},"TempUnit":"C"}';

describe('JsonLeafScanner', () => {
  it('lists the top-level entries and the leaves below them, named as Tasmota flattens', () => {
    const s = new JsonLeafScanner('_', 1);
    expect(s.scan(Buffer.from(' {"Time":"t","A":{"x":1,"y":{"z":-0,"n":null},"w":[true,{"q":"s"}]},"P":[3,5],"U":null,"e":{}} '))).toBe(true);
    expect(s.topKeys.slice(0, s.nTop)).toEqual(['Time', 'A', 'P', 'U', 'e']);
    expect(s.topKinds.slice(0, s.nTop)).toEqual([TopKind.Scalar, TopKind.Object, TopKind.Array, TopKind.Null, TopKind.Object]);
    const leaves = Array.from({ length: s.nLeaves }, (_, i) => [s.leafTop[i], s.leafNames[i], s.leafValues[i]]);
    expect(leaves).toEqual([
      [1, 'x', 1],
      [1, 'y_z', -0],
      [1, 'w_1', true],
      [1, 'w_2_q', 's'],
      [2, 'P_1', 3],
      [2, 'P_2', 5],
    ]);
    expect(Object.is(s.leafValues[1], -0)).toBe(true);
  });

  it('reuses the texts of the last message when the shape is the same', () => {
    const s = new JsonLeafScanner('_', 1);
    s.scan(Buffer.from('{"A":{"Temperature":1,"B":{"c":2}},"S":"on"}'));
    const names = s.leafNames.slice(0, s.nLeaves);
    const str = s.topValues[1];
    s.scan(Buffer.from('{"A":{"Temperature":3,"B":{"c":4}},"S":"on"}'));
    expect(s.leafNames.slice(0, s.nLeaves)).toEqual(names);
    for (let i = 0; i < s.nLeaves; i++) expect(s.leafNames[i]).toBe(names[i]);
    expect(s.topValues[1]).toBe(str);
    // A different key at the same place is read as itself.
    s.scan(Buffer.from('{"A":{"Temperaturf":1,"B":{"c":2}},"S":"of"}'));
    expect(s.leafNames.slice(0, s.nLeaves)).toEqual(['Temperaturf', 'B_c']);
    expect(s.topValues[1]).toBe('of');
  });

  it.each([
    ['an escape in a string', '{"A":{"s":"a\\nb"}}'],
    ['an escape in a key', '{"A":{"s\\u0041":1}}'],
    ['a duplicate key', '{"A":{"x":1,"x":2}}'],
    ['a duplicate top-level key', '{"A":1,"A":{"x":2}}'],
    ['a key JSON.parse would move first', '{"A":{"b":1,"7":2}}'],
    ['nesting deeper than 16', `{"A":${'['.repeat(17)}1${']'.repeat(17)}}`],
    ['a syntax error', '{"A":{"x":1,}}'],
    ['an unclosed array', '{"A":[1,2}'],
    ['text after the object', '{"A":1}x'],
    ['not an object', '[{"A":1}]'],
  ])('leaves %s to JSON.parse', (_what, text) => {
    expect(new JsonLeafScanner().scan(Buffer.from(text))).toBe(false);
  });
});

describe('Tasmota decoder: fast path and JSON.parse agree', () => {
  const { fast, reference } = decoders();

  it.each([
    SAMPLE,
    SAMPLE.replace('"TempUnit":"C"', '"TempUnit":"F","PressureUnit":"mmHg","BME280":{"Pressure":760.1,"SeaPressure":761}'),
    '{"Time":"2024-01-15T12:34:56","DS18B20-1":{"Id":"0316A2790D1A","Temperature":21.3},"DS18B20-2":{"Id":42,"Temperature":-0}}',
    '{"ENERGY":{"Power":[3,5,{"x":1}],"Voltage":[230,231]},"Switch1":"ON","Arr":[1,[2,[3]]],"X":{"":1,"n":{"":2}},"":7,"E":[],"F":{}}',
    '{"__proto__":{"a":1},"A":{"__proto__":2,"Temperature":1e400},"B":{"v":1e-400,"w":123456789012345678901234567890}}',
    '{"é":{"日本":1,"s":"°C"},"Z":{"v":-0.0,"w":9007199254740993}}',
    '\ufeff{"A":{"Temperature":20}}',
    '{"Time":null,"A":{"x":1}}',
    '{"TempUnit":"K","A":{"Temperature":1}}',
    '{"Time":"x","PressureUnit":{"a":1},"A":{"x":1}}',
    '{"A":null,"B":[null,null],"C":{"x":null}}',
    '{}',
    '',
    '{"A":{"x":1}',
  ])('%s', (text) => {
    const b = Buffer.from(text);
    expect(show(fast(b))).toBe(show(reference(b)));
  });

  it('agrees with a local time zone and other units too', () => {
    for (const params of [
      { time_zone: 'Europe/Berlin' },
      { temperature_unit: 'F' as const },
      { temperature_unit: 'as_sent' as const, pressure_unit: 'as_sent' as const },
    ]) {
      const d = decoders(params);
      for (const text of [
        SAMPLE,
        SAMPLE.replace('"C"', '"F"'),
        '{"Time":{"a":1},"A":{"x":1}}',
        '{"Time":5,"A":{"x":1}}',
        '{"Time":"2024-07-15T12:00:00","TempUnit":"F","AM2301":{"Temperature":70.1,"DewPoint":50}}',
      ]) {
        expect(show(d.fast(Buffer.from(text))), `${JSON.stringify(params)} ${text}`).toBe(show(d.reference(Buffer.from(text))));
      }
    }
  });

  it('agrees on random nested JSON, hostile included (property)', () => {
    const keys = fc.constantFrom(
      'Time',
      'TempUnit',
      'PressureUnit',
      'Temperature',
      'Temperature1',
      'Pressure',
      'DewPoint',
      'Id',
      'ENERGY',
      'a',
      'a_b',
      'b',
      '',
      '__proto__',
      'constructor',
      '1',
      '01',
      'é',
      '日本',
      'x y',
      'Unit',
      'SpeedUnit',
    );
    const numLit = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))),
      fc.integer().map(String),
      fc.constantFrom(
        '-0',
        '-0.0',
        '1e400',
        '-1e400',
        '1e-400',
        '9007199254740993',
        '123456789012345678901234567890',
        '0.1',
        '1E2',
        '1e+2',
        '2.5e-3',
        '1.7976931348623157e308',
        '5e-324',
        '00',
        '1.',
        '.5',
        '+1',
        '-',
        '0x10',
      ),
    );
    const str = fc.oneof(
      fc.constantFrom('"C"', '"F"', '"hPa"', '"mmHg"', '"inHg"', '"ON"', '"2024-01-15T12:34:56"', '"°C"', '"a\\"b"', '"\\u00e9"', '"x\\ny"', '""'),
      fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
    );
    const scalar = fc.oneof(numLit, str, fc.constantFrom('true', 'false', 'null', 'tru', 'nul'));
    const space = fc.constantFrom('', '', '', ' ', '\n', '\t ');
    const { value } = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('object'), tie('array')),
      object: fc
        .array(fc.tuple(keys, space, tie('value')), { maxLength: 5 })
        .map((es) => `{${es.map(([k, sp, v]) => `${JSON.stringify(k)}${sp}:${sp}${v}`).join(',')}}`),
      array: fc.array(tie('value'), { maxLength: 4 }).map((vs) => `[${vs.join(', ')}]`),
    }));
    const deep = fc
      .tuple(fc.integer({ min: 1, max: 40 }), fc.boolean())
      .map(([d, arr]) => `{"A":${(arr ? '[' : '{"k":').repeat(d)}1${(arr ? ']' : '}').repeat(d)}}`);
    const payload = fc.oneof(
      { weight: 6, arbitrary: fc.array(fc.tuple(keys, value), { maxLength: 6 }).map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`) },
      { weight: 1, arbitrary: deep },
      { weight: 1, arbitrary: value },
    );
    const params = fc.record({
      time_zone: fc.constantFrom('arrival', 'UTC', 'Europe/Berlin'),
      temperature_unit: fc.constantFrom('C' as const, 'F' as const, 'as_sent' as const),
      pressure_unit: fc.constantFrom('hPa' as const, 'as_sent' as const),
    });
    let taken = 0;
    let runs = 0;
    fc.assert(
      fc.property(params, payload, (p, text) => {
        const d = decoders(p);
        const b = Buffer.from(text);
        runs++;
        if (new JsonLeafScanner('_', 1).scan(b)) taken++;
        return show(d.fast(b)) === show(d.reference(b));
      }),
      { numRuns: 4000, seed: 0x7a5 },
    );
    // The property is worth something only if the fast path answered a good share itself.
    expect(taken / runs).toBeGreaterThan(0.2);
  });

  it('takes the benchmark-like message itself, and a second message of the same shape allocates no new names', () => {
    const s = new JsonLeafScanner('_', 1);
    expect(s.scan(Buffer.from(SAMPLE))).toBe(true);
    expect(s.nLeaves).toBe(15);
  });
});
