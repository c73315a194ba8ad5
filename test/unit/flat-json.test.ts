import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonOptions } from '../../src/config/types.js';
import { createJsonDecoder } from '../../src/devices/decode-json.js';
import { scanFlatObject } from '../../src/devices/flat-json.js';

const opts: JsonOptions = { fields: [], rename: {}, separator: '_', integers: ['seq'], tag_keys: ['room'], time_key: 'ts', time_unit: 'us', strings: 'keep' };
const ctx = { measurement: 'm', tags: { device: 'd1' }, receivedAt: 1_700_000_000_000_000_000n };

function scanned(text: string): [string, unknown, string | undefined][] | undefined {
  const s = scanFlatObject(Buffer.from(text));
  if (s === undefined) return undefined;
  return Array.from({ length: s.n }, (_, i) => [s.keys[i] as string, s.values[i], s.literals[i]]);
}

describe('scanFlatObject', () => {
  it('reads a flat object of numbers, strings, booleans and null, in payload order', () => {
    expect(scanned(' { "t" : 21.5 ,"n":-3,"s":"x y","on":true,"off":false,"gone":null,"ts":1700000000000123 }\n')).toEqual([
      ['t', 21.5, undefined],
      ['n', -3, undefined],
      ['s', 'x y', undefined],
      ['on', true, undefined],
      ['off', false, undefined],
      ['gone', null, undefined],
      ['ts', 1700000000000123, undefined],
    ]);
    expect(scanned('{}')).toEqual([]);
    expect(Object.is(scanned('{"z":-0}')?.[0]?.[1], -0)).toBe(true);
  });

  it('computes exact values, and keeps the literal where the double may not be all it says', () => {
    expect(
      scanned('{"a":123456789012345,"b":9007199254740991,"c":1e3,"d":0.1,"e":-2.5e-3,"f":9007199254740993,"g":1.2345678901234567,"h":1e300,"i":-0.0}'),
    ).toEqual([
      ['a', 123456789012345, undefined],
      ['b', 9007199254740991, undefined],
      ['c', 1000, undefined],
      ['d', 0.1, undefined],
      ['e', -0.0025, undefined],
      ['f', 9007199254740992, '9007199254740993'],
      ['g', 1.2345678901234567, '1.2345678901234567'],
      ['h', 1e300, '1e300'],
      ['i', -0, undefined],
    ]);
  });

  it('gives every number the double JSON.parse gives', () => {
    const lits = [
      '0.1',
      '0.3',
      '123.456',
      '1e22',
      '1e23',
      '9.999999999999999e22',
      '5e-324',
      '2.2250738585072014e-308',
      '0.000001',
      '1.7976931348623157e308',
      '123456789012345.6',
      '0.1234567890123456789',
    ];
    for (const lit of lits) {
      const v = scanned(`{"x":${lit}}`)?.[0]?.[1];
      expect(Object.is(v, JSON.parse(lit)), lit).toBe(true);
    }
  });

  it('agrees with JSON.parse on generated number literals (property)', () => {
    const digits = (max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: max });
    const literal = fc
      .tuple(fc.boolean(), digits(20), fc.option(digits(20)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(4))))
      .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int.replace(/^0+(?=\d)/, '')}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`);
    fc.assert(
      fc.property(literal, (lit) => {
        const v = scanned(`{"x":${lit}}`)?.[0]?.[1];
        return Object.is(v, JSON.parse(lit));
      }),
      { numRuns: 3000, seed: 0xf1a7 },
    );
  });

  it('reads keys and strings beyond ASCII as UTF-8, and says the payload must be checked', () => {
    expect(scanned('{"température":21.5,"unit":"°C","s":"日本😀"}')).toEqual([
      ['température', 21.5, undefined],
      ['unit', '°C', undefined],
      ['s', '日本😀', undefined],
    ]);
    expect(scanFlatObject(Buffer.from('{"unit":"°C"}'))?.ascii).toBe(false);
    expect(scanFlatObject(Buffer.from('{"unit":"C"}'))?.ascii).toBe(true);
    // A key reused from the last message is only reused when the bytes are that key.
    expect(scanned('{"ab":1}')?.[0]?.[0]).toBe('ab');
    expect(scanned('{"aé":1}')?.[0]?.[0]).toBe('aé');
  });

  it('skips a leading UTF-8 byte order mark (and asks for the UTF-8 check)', () => {
    const s = scanFlatObject(Buffer.from('\ufeff{"v":1}'));
    expect(s?.n).toBe(1);
    expect(s?.ascii).toBe(false);
  });

  it('reads only the given range of the buffer', () => {
    const b = Buffer.from('xx{"a":12}{"b":3}yy');
    const s = scanFlatObject(b, 2, 10);
    expect(s && [s.keys[0], s.values[0]]).toEqual(['a', 12]);
    // Cut inside a number, a literal, a string: the bytes after `end` do not complete it.
    expect(scanFlatObject(Buffer.from('{"a":12}'), 0, 6)).toBeUndefined();
    expect(scanFlatObject(Buffer.from('{"a":1}'), 0, 6)).toBeUndefined();
    expect(scanFlatObject(Buffer.from('{"a":true}'), 0, 8)).toBeUndefined();
    expect(scanFlatObject(Buffer.from('{"a":"xy"}'), 0, 8)).toBeUndefined();
    expect(scanFlatObject(Buffer.from('{"a":1} '), 0, 7)?.n).toBe(1);
  });

  it.each([
    ['nesting', '{"a":{"b":1}}'],
    ['an array', '{"a":[1]}'],
    ['an escape in a value', '{"a":"x\\ny"}'],
    ['an escape in a key', '{"a\\"b":1}'],
    ['a duplicate key', '{"a":1,"a":2}'],
    ['a key JSON.parse would move first', '{"b":1,"0":2}'],
    ['a leading zero', '{"a":01}'],
    ['a bare fraction', '{"a":.5}'],
    ['a dangling point', '{"a":1.}'],
    ['a plus sign', '{"a":+1}'],
    ['an empty exponent', '{"a":1e}'],
    ['a trailing comma', '{"a":1,}'],
    ['text after the object', '{"a":1} x'],
    ['a control character in a string', '{"a":"x\ty"}'],
    ['a truncated literal', '{"a":tru}'],
    ['an unterminated string', '{"a":"x'],
    ['not an object', '[1]'],
    ['33 keys', `{${Array.from({ length: 33 }, (_, i) => `"k${i}":1`).join(',')}}`],
  ])('leaves %s to JSON.parse', (_what, text) => {
    expect(scanFlatObject(Buffer.from(text))).toBeUndefined();
  });
});

describe('JSON decoding: the fast path and JSON.parse agree', () => {
  const fast = createJsonDecoder(opts);
  const general = createJsonDecoder(opts, false);
  const fastOf = (text: string) => {
    const b = Buffer.from(text);
    return fast.bytes(b, 0, b.length, ctx);
  };
  it.each([
    '{"seq":42,"v":20.5,"ts":1700000000000123,"room":"kitchen"}',
    '{"seq":9007199254740993,"v":1,"ts":1700000000000000.7}',
    '{"seq":1.5,"v":1}',
    '{"seq":"7","v":1}',
    '{"v":1e400}',
    '{"ts":"soon","v":1}',
    '{"ts":null,"v":1,"room":""}',
    '{"room":"r","ts":1}',
    '{"__proto__":1,"v":2}',
  ])('%s', (text) => {
    const r = fastOf(text);
    expect(r).toBeDefined(); // the fast path answered
    expect(r).toEqual(general(text, ctx));
  });

  it('the fast path leaves payloads that are not valid UTF-8 to the text check', () => {
    const bad = Buffer.concat([Buffer.from('{"s":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","v":1}')]);
    expect(scanFlatObject(bad)?.ascii).toBe(false); // the scanner reads it…
    expect(createJsonDecoder(opts).bytes(bad, 0, bad.length, ctx)).toBeUndefined(); // …the decoder does not take it
    const good = Buffer.from('{"s":"é","v":1}');
    expect(createJsonDecoder(opts).bytes(good, 0, good.length, ctx)).toEqual(general('{"s":"é","v":1}', ctx));
  });

  it('the fast path gives exact integers and timestamps', () => {
    expect(fastOf('{"seq":9007199254740993,"v":1,"ts":1700000000000000.7}')).toEqual([
      { measurement: 'm', tags: { device: 'd1' }, fields: { seq: 9007199254740993n, v: 1 }, time: 1_700_000_000_000_000_700n },
    ]);
  });
});
