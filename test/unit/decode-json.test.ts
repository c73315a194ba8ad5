import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonOptions } from '../../src/config/types.js';
import { createJsonDecoder, decodeJson } from '../../src/devices/decode-json.js';
import { exactNumberLiterals } from '../../src/devices/json-literals.js';
import { decimalToNs, parseIsoNs, toNs } from '../../src/devices/timestamps.js';
import { isDecodeError, type DecodeError, type Reading } from '../../src/types.js';

const ARRIVAL = 1_700_000_000_000_000_000n;
const base: JsonOptions = { fields: [], rename: {}, separator: '_', integers: [], tag_keys: [], time_unit: 'ms', strings: 'keep' };
const ctx = { measurement: 'm', tags: { device: 'th1' }, receivedAt: ARRIVAL };

function ok(text: string, opts: Partial<JsonOptions> = {}, c = ctx): Reading {
  const r = decodeJson(text, { ...base, ...opts }, c);
  if (isDecodeError(r)) throw new Error(`${r.reason}: ${r.message}`);
  expect(r).toHaveLength(1);
  return r[0] as Reading;
}

function bad(text: string, opts: Partial<JsonOptions> = {}): DecodeError {
  const r = decodeJson(text, { ...base, ...opts }, ctx);
  if (!isDecodeError(r)) throw new Error(`expected an error, got ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return r;
}

describe('decodeJson: values', () => {
  it('decodes a flat climate payload: numbers are floats, tags and measurement from the context', () => {
    const r = ok('{"temperature":21.5,"humidity":40}');
    expect(r).toEqual({ measurement: 'm', tags: { device: 'th1' }, fields: { temperature: 21.5, humidity: 40 }, time: ARRIVAL });
    expect(typeof r.fields.humidity).toBe('number');
  });

  it('keeps booleans and strings, skips nulls', () => {
    const r = ok('{"on":true,"off":false,"state":"idle","gone":null,"e":""}');
    expect(r.fields).toEqual({ on: true, off: false, state: 'idle', e: '' });
  });

  it('drops strings with strings: drop', () => {
    expect(ok('{"t":1,"state":"idle"}', { strings: 'drop' }).fields).toEqual({ t: 1 });
  });

  it('handles negative zero, exponents and huge floats', () => {
    const r = ok('{"z":-0,"e":1e3,"n":-2.5E-3,"big":1.7976931348623157e308,"i":12345678901234567890}');
    expect(Object.is(r.fields.z, -0)).toBe(true);
    expect(r.fields.e).toBe(1000);
    expect(r.fields.n).toBe(-0.0025);
    expect(r.fields.big).toBe(Number.MAX_VALUE);
    expect(r.fields.i).toBe(Number('12345678901234567890'));
  });

  it('rejects numbers beyond float64 as wrong_type', () => {
    expect(bad('{"x":1e400}')).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('"x"') });
  });

  it('keeps unicode keys and values', () => {
    const r = ok('{"température":21.5,"ключ":"значение","😀":1}');
    expect(r.fields).toEqual({ température: 21.5, ключ: 'значение', '😀': 1 });
  });

  it('keeps a __proto__ key as an ordinary field and does not touch prototypes', () => {
    const r = ok('{"__proto__":5,"constructor":1}');
    expect(Object.keys(r.fields).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(r.fields, '__proto__')?.value).toBe(5);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('skips an empty top-level key', () => {
    expect(ok('{"":1,"a":2}').fields).toEqual({ a: 2 });
  });
});

describe('decodeJson: integers', () => {
  it('makes declared integer fields bigint, others stay float', () => {
    const r = ok('{"count":42,"temp":40,"neg":-7,"z":-0,"e":1e3}', { integers: ['count', 'neg', 'z', 'e'] });
    expect(r.fields).toEqual({ count: 42n, temp: 40, neg: -7n, z: 0n, e: 1000n });
  });

  it('is exact beyond 2^53 up to the int64 limits', () => {
    const r = ok('{"a":9007199254740993,"max":9223372036854775807,"min":-9223372036854775808}', { integers: ['a', 'max', 'min'] });
    expect(r.fields).toEqual({ a: 9007199254740993n, max: 9223372036854775807n, min: -9223372036854775808n });
  });

  it('is exact for nested and renamed integer fields beyond 2^53', () => {
    const r = ok('{"s":{"c":[1, 18014398509481985]},"other":"x"}', { integers: ['cnt'], rename: { s_c_1: 'cnt' }, fields: ['cnt'] });
    expect(r.fields).toEqual({ cnt: 18014398509481985n });
  });

  it('rejects values outside int64', () => {
    expect(bad('{"a":9223372036854775808}', { integers: ['a'] })).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('int64') });
    expect(bad('{"a":-9223372036854775809}', { integers: ['a'] }).reason).toBe('wrong_type');
    expect(bad('{"a":1e20}', { integers: ['a'] }).reason).toBe('wrong_type');
  });

  it('rejects non-integral, boolean and string values for an integer field', () => {
    expect(bad('{"a":1.5}', { integers: ['a'] })).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('"a"') });
    expect(bad('{"a":true}', { integers: ['a'] }).reason).toBe('wrong_type');
    expect(bad('{"a":"5"}', { integers: ['a'] }).reason).toBe('wrong_type');
    expect(bad('{"a":"5"}', { integers: ['a'], strings: 'drop' }).reason).toBe('wrong_type');
  });

  it('a null integer field is skipped, not an error', () => {
    expect(ok('{"a":null,"b":1}', { integers: ['a'] }).fields).toEqual({ b: 1 });
  });
});

describe('decodeJson: structure', () => {
  it('flattens nested objects with the separator', () => {
    expect(ok('{"a":{"b":{"c":1}},"d":2}').fields).toEqual({ a_b_c: 1, d: 2 });
    expect(ok('{"a":{"b":1}}', { separator: '.' }).fields).toEqual({ 'a.b': 1 });
    expect(ok('{"a":{"b":1}}', { separator: '' }).fields).toEqual({ ab: 1 });
  });

  it('flattens arrays with the element index', () => {
    expect(ok('{"v":[1,2,{"x":true}],"e":[],"o":{}, "k":1}').fields).toEqual({ v_0: 1, v_1: 2, v_2_x: true, k: 1 });
  });

  it('accepts 31 nested levels and rejects 32', () => {
    const nest = (d: number): string => '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    const deep = ok(nest(32));
    expect(Object.values(deep.fields)).toEqual([1]);
    expect(bad(nest(33))).toMatchObject({ reason: 'wrong_type', message: expect.stringContaining('nested deeper') });
    // Pathological depth (JSON.parse copes) does not blow the stack.
    expect(bad('['.repeat(1) + '{"a":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}]').reason).toBe('not_an_object');
    expect(bad('{"a":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}').reason).toBe('wrong_type');
  });

  it('selects fields after flattening and renaming', () => {
    const r = ok('{"a":{"b":1},"c":2,"d":3}', { rename: { a_b: 'ab', d: 'dd' }, fields: ['ab', 'dd'] });
    expect(r.fields).toEqual({ ab: 1, dd: 3 });
  });

  it('no fields left is no_fields', () => {
    expect(bad('{}').reason).toBe('no_fields');
    expect(bad('{"a":null}').reason).toBe('no_fields');
    expect(bad('{"s":"x"}', { strings: 'drop' }).reason).toBe('no_fields');
    expect(bad('{"a":1}', { fields: ['b'] }).reason).toBe('no_fields');
    expect(bad('{"id":"x"}', { tag_keys: ['id'] }).reason).toBe('no_fields');
  });
});

describe('decodeJson: tag_keys', () => {
  it('turns payload values into tags, and the rule tags win', () => {
    const r = ok('{"id":"a1","n":3,"b":false,"device":"spoof","v":1,"empty":""}', { tag_keys: ['id', 'n', 'b', 'device', 'empty'] });
    expect(r.tags).toEqual({ id: 'a1', n: '3', b: 'false', device: 'th1' });
    expect(r.fields).toEqual({ v: 1 });
  });

  it('uses renamed, flattened names', () => {
    const r = ok('{"meta":{"room":"k"},"v":1}', { rename: { meta_room: 'room' }, tag_keys: ['room'] });
    expect(r.tags).toEqual({ device: 'th1', room: 'k' });
  });

  it('shares the context tags when the payload adds none', () => {
    const r = ok('{"v":1}');
    expect(r.tags).toBe(ctx.tags);
  });
});

describe('decodeJson: time', () => {
  it('absent or null time key → arrival time', () => {
    expect(ok('{"v":1}', { time_key: 'ts' }).time).toBe(ARRIVAL);
    expect(ok('{"v":1,"ts":null}', { time_key: 'ts' }).time).toBe(ARRIVAL);
  });

  it.each([
    ['s', '1700000000', 1_700_000_000_000_000_000n],
    ['s', '1700000000.5', 1_700_000_000_500_000_000n],
    ['s', '1700000000.123456789', 1_700_000_000_123_456_789n],
    ['ms', '1700000000123', 1_700_000_000_123_000_000n],
    ['ms', '1700000000123.5', 1_700_000_000_123_500_000n],
    ['us', '1700000000123456', 1_700_000_000_123_456_000n],
    ['ns', '1700000000123456789', 1_700_000_000_123_456_789n],
    ['ns', '-1', -1n],
    ['ms', '1.7e12', 1_700_000_000_000_000_000n],
    ['s', '"1700000000"', 1_700_000_000_000_000_000n],
  ] as const)('unit %s: %s', (unit, lit, want) => {
    const r = ok(`{"v":1,"ts":${lit}}`, { time_key: 'ts', time_unit: unit });
    expect(r.time).toBe(want);
    expect(r.fields).toEqual({ v: 1 });
  });

  it('reads a dotted path and drops the key from the fields', () => {
    const r = ok('{"meta":{"ts":1700000000123,"id":7},"v":1}', { time_key: 'meta.ts' });
    expect(r.time).toBe(1_700_000_000_123_000_000n);
    expect(r.fields).toEqual({ meta_id: 7, v: 1 });
  });

  it('prefers a literal top-level key with dots', () => {
    const r = ok('{"a.b":1000,"a":{"b":2000},"v":1}', { time_key: 'a.b' });
    expect(r.time).toBe(1_000_000_000n);
    expect(r.fields).toEqual({ a_b: 2000, v: 1 });
  });

  it.each([
    ['{"seq":1,"ts":1700000000000000.1,"v":2}', 1_700_000_000_000_000_100n], // the double lost the .1 µs
    ['{"seq":1,"ts" : 1700000000123456 ,"v":2}', 1_700_000_000_123_456_000n],
    ['{"o":{"ts":1700000000000000.9},"ts":1700000000000000.1,"v":2}', 1_700_000_000_000_000_100n], // key twice: full scan
    ['{"note":"ts","ts":1700000000000000.1,"v":2}', 1_700_000_000_000_000_100n], // as a value too: full scan
    ['{"t\\u0073":1700000000000000.1,"v":2}', 1_700_000_000_000_000_100n], // escaped key: full scan
  ])('is exact for 16-digit µs timestamps: %s', (text, ns) => {
    expect(ok(text, { time_key: 'ts', time_unit: 'us' }).time).toBe(ns);
  });

  it('is exact for nested ns timestamps', () => {
    const r = ok('{"m":{"t":1700000000123456789},"v":1}', { time_key: 'm.t', time_unit: 'ns' });
    expect(r.time).toBe(1_700_000_000_123_456_789n);
  });

  it.each([
    ['"2024-05-01T12:00:00Z"', 1714564800000000000n],
    ['"2024-05-01T14:00:00+02:00"', 1714564800000000000n],
    ['"2024-05-01T14:00:00+0200"', 1714564800000000000n],
    ['"2024-05-01T07:00:00-05"', 1714564800000000000n],
    ['"2024-05-01T12:00:00"', 1714564800000000000n],
    ['"2024-05-01 12:00:00.123456789Z"', 1714564800123456789n],
    ['"2024-05-01T12:00:00,5Z"', 1714564800500000000n],
    ['"2024-05-01T12:00:00.1234567891Z"', 1714564800123456789n],
    ['"2024-05-01T12:00Z"', 1714564800000000000n],
    ['"2024-05-01"', 1714521600000000000n],
    ['"2024-02-29T00:00:00Z"', 1709164800000000000n],
    ['"1969-12-31T23:59:59.999Z"', -1_000_000n],
  ])('iso %s', (lit, want) => {
    expect(ok(`{"v":1,"ts":${lit}}`, { time_key: 'ts', time_unit: 'iso' }).time).toBe(want);
  });

  it('agrees with Date.parse on offset forms', () => {
    for (const s of ['2021-03-04T05:06:07.089+05:30', '1999-12-31T23:59:59Z', '2000-02-29T12:00:00-11:00']) {
      expect(parseIsoNs(s)).toBe(BigInt(Date.parse(s)) * 1_000_000n);
    }
  });

  it.each([
    ['ms', '"soon"'],
    ['ms', 'true'],
    ['ms', '{"x":1}'],
    ['ms', '1e30'],
    ['s', '9300000000'],
    ['iso', '1700000000'],
    ['iso', '"2024-13-01T00:00:00Z"'],
    ['iso', '"2023-02-29T00:00:00Z"'],
    ['iso', '"2024-05-01T24:00:00Z"'],
    ['iso', '"2024-05-01T12:60:00Z"'],
    ['iso', '"2024-05-01T12:00:60Z"'],
    ['iso', '"2024-05-01T12:00:00+25:00"'],
    ['iso', '"20240501T120000Z"'],
    ['iso', '"May 1 2024"'],
    ['iso', '"2300-01-01T00:00:00Z"'],
    ['iso', '""'],
  ] as const)('unit %s rejects %s as invalid_timestamp naming the key', (unit, lit) => {
    const e = bad(`{"v":1,"ts":${lit}}`, { time_key: 'ts', time_unit: unit });
    expect(e.reason).toBe('invalid_timestamp');
    expect(e.message).toContain('"ts"');
  });
});

describe('decodeJson: errors', () => {
  it('invalid JSON names the position', () => {
    const e = bad('{"a":1,}');
    expect(e.reason).toBe('invalid_json');
    expect(e.message).toMatch(/position 7/);
    expect(bad('{"a":').message).toMatch(/position 5/);
    expect(bad('not json').reason).toBe('invalid_json');
    expect(bad('{"a":1} trailing').reason).toBe('invalid_json');
  });

  it('keeps the message bounded for huge inputs', () => {
    expect(bad('x'.repeat(100_000)).message.length).toBeLessThan(300);
  });

  it.each([
    ['[1,2]', 'an array'],
    ['42', 'number'],
    ['"s"', 'string'],
    ['null', 'null'],
    ['true', 'boolean'],
  ])('%s is not_an_object', (text, what) => {
    expect(bad(text)).toMatchObject({ reason: 'not_an_object', message: expect.stringContaining(what) });
  });
});

describe('helpers', () => {
  it('createJsonDecoder compiles once and decodes many', () => {
    const d = createJsonDecoder({ ...base, integers: ['n'] });
    const a = d('{"n":1}', ctx);
    const b = d('{"n":2}', ctx);
    expect(a).toEqual([{ measurement: 'm', tags: ctx.tags, fields: { n: 1n }, time: ARRIVAL }]);
    expect(b).toEqual([{ measurement: 'm', tags: ctx.tags, fields: { n: 2n }, time: ARRIVAL }]);
  });

  it('decimalToNs scales, truncates and bounds', () => {
    expect(decimalToNs('1.5', 9)).toBe(1_500_000_000n);
    expect(decimalToNs('0.0000000019', 9)).toBe(1n);
    expect(decimalToNs('-2.5', 0)).toBe(-2n);
    expect(decimalToNs('1e-9', 9)).toBe(1n);
    expect(decimalToNs('1e-99999', 9)).toBe(0n);
    expect(decimalToNs('1e99999', 9)).toBeNull();
    expect(decimalToNs('9223372036854775807', 0)).toBeNull();
    expect(decimalToNs('.', 0)).toBeNull();
    expect(decimalToNs('0x10', 0)).toBeNull();
    expect(decimalToNs('000', 9)).toBe(0n);
  });

  it('decimalToNs: plain digit strings (the fast path) read as the general parser reads them', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,21}$/), fc.constantFrom(0, 3, 6, 9), (digits, shift) => {
        expect(decimalToNs(digits, shift)).toBe(decimalToNs(`+${digits}`, shift)); // "+…" takes the general path
      }),
    );
  });

  it('toNs: integers of up to 15 digits (the fast path) give what their decimal text gives', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(1e15 - 1), max: 1e15 - 1 }), fc.constantFrom('s' as const, 'ms' as const, 'us' as const, 'ns' as const), (v, unit) => {
        expect(toNs(v, unit)).toEqual(toNs(String(v), unit));
      }),
    );
  });

  it('toNs explains what is wrong', () => {
    expect(toNs(true, 'ms')).toMatch(/expected a number/);
    expect(toNs(5, 'iso')).toMatch(/ISO 8601/);
    expect(toNs(1.5, 's')).toBe(1_500_000_000n);
  });

  it('exactNumberLiterals finds long numbers by flattened path, ignoring strings and short numbers', () => {
    const text =
      '{"a":{"b":12345678901234567,"s":"{\\"x\\":12345678901234567}"},"arr":[1,-98765432109876543],"k\\u00e9":11111111111111111111,"f":1.2345678901234567,"e":1e300,"z":0.000000000001}';
    const m = exactNumberLiterals(text, '_');
    expect([...m.entries()]).toEqual([
      ['a_b', '12345678901234567'],
      ['arr_1', '-98765432109876543'],
      ['ké', '11111111111111111111'],
      ['f', '1.2345678901234567'],
    ]);
  });
});

describe('decodeJson: one decoder, many messages', () => {
  it('gives each message what a fresh decoder gives, whatever keys the previous messages had at each position', () => {
    const opts: JsonOptions = { ...base, rename: { t: 'temperature' }, tag_keys: ['room'], integers: ['n'], time_key: 'ts' };
    const decoder = createJsonDecoder(opts);
    const texts = [
      '{"t":21.5,"n":3,"room":"k","ts":1700000000000}',
      '{"t":21.5,"n":3,"room":"k","ts":1700000000000}', // the same keys again
      '{"room":"k","t":22,"n":4}', // the same keys, other places
      '{"n":5.5,"t":1}', // "n" where "t" was: an integer field must be integral
      '{"x":"s","y":true,"room":"b"}',
      '{"ts":1,"t":2}',
    ];
    const fast = (text: string) => {
      const b = Buffer.from(text);
      const r = decoder.bytes(b, 0, b.length, ctx);
      expect(r, text).toBeDefined(); // the fast path answered
      return r;
    };
    for (const text of texts) expect(fast(text), text).toEqual(createJsonDecoder(opts, false)(text, ctx));
    expect(isDecodeError(fast('{"n":5.5,"t":1}'))).toBe(true);
    expect(fast('{"room":"k","t":22,"n":4}')).toEqual([
      { measurement: 'm', tags: { room: 'k', device: 'th1' }, fields: { temperature: 22, n: 4n }, time: ARRIVAL },
    ]);
  });
});
