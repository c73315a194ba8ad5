import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLineProtocol, parseLineProtocol } from '../../src/devices/decode-line-protocol.js';
import { isCanonicalFloat, LineReading } from '../../src/devices/line-protocol-pass.js';
import type { DecodeContext } from '../../src/devices/decode-context.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import { isDecodeError, type Reading } from '../../src/types.js';

// The pass-through (line-protocol-pass.ts) against the parse path it short-cuts: for every
// payload, the same readings (deep), the same encoded lines, or the same rejection.

const AT = 1_765_000_000_123_456_789n;
const topic: DecodeContext = { tags: Object.freeze({ device: 'd7', system: 'edgeflux' }), receivedAt: AT };
const withMeasurement: DecodeContext = { measurement: 'env', tags: Object.freeze({ sensor: 'from-topic' }), receivedAt: AT };
const bare: DecodeContext = { tags: {}, receivedAt: AT };
const CONTEXTS = [topic, withMeasurement, bare];

/** Both paths on `text`: same error, or same readings and the same encoded lines; how many lines were passed through. */
function same(text: string, ctx: DecodeContext): number {
  const slow = parseLineProtocol(text, ctx);
  const fast = decodeLineProtocol(text, ctx);
  if (isDecodeError(slow)) {
    expect(fast).toEqual(slow);
    return 0;
  }
  if (isDecodeError(fast)) throw new Error(`the pass-through rejected what the parse path takes: ${fast.message}`);
  expect(fast).toHaveLength(slow.length);
  let passed = 0;
  fast.forEach((r, i) => {
    const s = slow[i] as Reading;
    expect({ measurement: r.measurement, tags: r.tags, fields: r.fields, time: r.time }).toEqual(s);
    expect(Object.keys(r.fields)).toEqual(Object.keys(s.fields)); // the order the encoder writes them in
    expect(encodeLine(r)).toBe(encodeLine(s));
    if (r instanceof LineReading) passed++;
  });
  return passed;
}

describe('line protocol passed through as text', () => {
  it('passes a line in the encoder form through, and writes the same line the parse path writes', () => {
    const line = 'environment,sensor=bme280 temperature=22,humidity=68.3,pressure=987.83,seq=5i 1765000000000000000';
    const r = decodeLineProtocol(line, topic);
    if (isDecodeError(r)) throw new Error(r.message);
    expect(r[0]).toBeInstanceOf(LineReading);
    expect(encodeLine(r[0]!)).toBe(
      'environment,device=d7,sensor=bme280,system=edgeflux temperature=22,humidity=68.3,pressure=987.83,seq=5i 1765000000000000000',
    );
    expect(same(line, topic)).toBe(1);
  });

  it('looks like a plain reading: a spread or a deep comparison sees measurement, tags, fields and time', () => {
    const r = decodeLineProtocol('m,a=1 x=1.5,n=2i,s="a b",b=true 17', bare);
    if (isDecodeError(r)) throw new Error(r.message);
    const want = { measurement: 'm', tags: { a: '1' }, fields: { x: 1.5, n: 2n, s: 'a b', b: true }, time: 17n };
    expect(r[0]).toBeInstanceOf(LineReading);
    expect(r[0]).toEqual(want);
    expect({ ...r[0]! }).toEqual(want);
    const shaped: Reading = { ...r[0]!, fields: { x: 2 } }; // as the deadband operator builds its output
    expect(encodeLine(shaped)).toBe('m,a=1 x=2 17');
  });

  it('shares one frozen tags object per topic and tag text (the encoder caches the series by it)', () => {
    const a = decodeLineProtocol('m,k=v x=1 1', topic);
    const b = decodeLineProtocol('m,k=v x=2 2', topic);
    if (isDecodeError(a) || isDecodeError(b)) throw new Error('rejected');
    expect(a[0]!.tags).toBe(b[0]!.tags);
    expect(Object.isFrozen(a[0]!.tags)).toBe(true);
    expect(a[0]!.tags).toEqual({ k: 'v', device: 'd7', system: 'edgeflux' });
  });

  it('leaves to the parse path what the encoder would write differently, and every bad line', () => {
    const parsed = [
      'm x=1.50 1', // trailing zero
      'm x=1e3 1', // exponent
      'm x=.5 1',
      'm x=-0 1',
      'm x=0.0000001 1', // 1e-7 is written with an exponent
      'm x=1234567890123456 1', // 16 digits
      'm x=5u 1',
      'm x=T 1',
      'm x=-0i 1',
      'm x=007i 1',
      'm 1x=1 1', // integer-like keys come first in a JS object
      'm x=1,x=2 1', // a repeated key keeps its first place with the last value
      'm x="a\\"b" 1',
      'm x="two\nlines" 1',
      'm\\ n x=1 1',
      'm x=1 1\r\n',
      'm x=1 007',
      'm x=1\nm x=2', // timestamp-less repeats of a series get arrival + k ns
    ];
    for (const text of parsed) {
      const r = decodeLineProtocol(text, bare);
      if (!isDecodeError(r)) expect(r.some((x) => x instanceof LineReading)).toBe(false);
      same(text, bare);
    }
    for (const text of ['m', 'm x', 'm x=', 'm x=1 y', 'm,k x=1', 'm,k= x=1', 'm,k=v,k=w x=1 1', 'm x=tru 1', 'm x="open 1', 'm x=1 99999999999999999999']) {
      expect(isDecodeError(decodeLineProtocol(text, bare))).toBe(true);
      same(text, bare);
    }
  });

  it('agrees with the parse path on generated and hostile payloads (property)', () => {
    const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
    // Mostly well-formed pieces, so that many payloads are valid; one in four hostile.
    const mostly = <T>(good: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 3 }, { arbitrary: hostile, weight: 1 });
    const name = mostly(
      pick('m', 'environment', 'température', 'm"q', 'a=b', 'x\ty', '🌡', '__proto__', '1m', 'constructor'),
      fc.string({ unit: pick('a', 'b', 'z', '_', '-', '.', '=', ',', ' ', '\\', '"', '#', '\t', 'é', '0', '7'), minLength: 1, maxLength: 6 }),
    );
    const key = mostly(
      pick('x', 'temperature', 'seq', '__proto__', 'constructor', 'k"', 'ü', 'valueOf', 'x#'),
      fc.oneof(pick('7', '10', '-1', 'a b'), fc.string({ unit: pick('a', 'q', '_', '1', '9', '\\', ',', '=', ' ', '"', 'ß'), minLength: 1, maxLength: 5 })),
    );
    const digits = (min: number, max: number) => fc.string({ unit: pick(...'0123456789'), minLength: min, maxLength: max });
    const float = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => String(v)),
      fc
        .tuple(pick('', '-', '+'), digits(0, 18), fc.option(digits(0, 18)), fc.option(fc.tuple(pick('e', 'E'), pick('', '+', '-'), digits(1, 3))))
        .map(([s, i, f, e]) => `${s}${i}${f === null ? '' : `.${f}`}${e === null ? '' : e.join('')}`),
      fc.tuple(fc.integer({ min: -100000, max: 100000 }), fc.integer({ min: 0, max: 3 })).map(([n, d]) => (n / 100).toFixed(d)),
    );
    const int = fc.oneof(
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map((n) => `${n}i`),
      fc.tuple(pick('', '-', '+'), digits(1, 20), pick('i', 'u')).map((p) => p.join('')),
    );
    const str = fc
      .string({ unit: fc.oneof(pick('a', ' ', ',', '=', '\\', '"', '\n', '\r', '\\"', '\\\\', 'é', '😀'), fc.constant('x')), maxLength: 12 })
      .map((s) => `"${s.replace(/"/g, '\\"')}"`);
    const value = mostly(
      fc.oneof(
        fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 6 })).map(([n, k]) => String(n / 10 ** k)),
        fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }).map((n) => `${n}i`),
        pick('true', 'false', '"a b"', '""'),
      ),
      fc.oneof(float, int, str, pick('t', 'T', 'True', 'FALSE', 'f', 'tru', '')),
    );
    const tagSet = fc.array(fc.tuple(key, name), { maxLength: 4 }).map((ts) => ts.map(([k, v]) => `,${k}=${v}`).join(''));
    const fieldSet = fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 6 }).map((fs) => fs.map(([k, v]) => `${k}=${v}`).join(','));
    const stamp = mostly(
      fc.oneof(
        fc.bigInt({ min: 0n, max: 9223372036854775806n }).map((n) => ` ${n}`),
        pick(' 1765000000000000000', ' 9223372036854775806', ' 0', ' 17  '),
      ),
      fc.oneof(
        fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map((n) => ` ${n}`),
        pick('', ' ', '  007', ' 1.5', ' 9223372036854775807 ', ' -0'),
      ),
    );
    const line = fc.tuple(name, tagSet, pick(' ', '  '), fieldSet, stamp).map((p) => p.join(''));
    const payload = fc
      .tuple(fc.array(line, { minLength: 1, maxLength: 3 }), mostly(pick('\n', '\n\n', '\n# note\n', '\n  '), pick('\r\n', '\n#', ' \n\t')))
      .map(([ls, sep]) => ls.join(sep));
    let passed = 0;
    fc.assert(
      fc.property(payload, fc.constantFrom(...CONTEXTS), (text, ctx) => {
        passed += same(text, ctx);
      }),
      { numRuns: 5000, seed: 0x11fe },
    );
    expect(passed).toBeGreaterThan(100); // not only rejections and parsed lines: a fair share went through the pass-through
  });

  it('agrees on lines in the encoder form (property): all of them pass through', () => {
    const plain = fc.string({ unit: fc.constantFrom(...'abcxyz_-.é😀'), minLength: 1, maxLength: 8 }).filter((s) => !/^\d/.test(s));
    const value = fc.oneof(
      fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 6 })).map(([n, k]) => String(n / 10 ** k)),
      fc.bigInt({ min: -(2n ** 59n), max: 2n ** 59n }).map((n) => `${n}i`),
      fc.boolean().map(String),
      plain.map((s) => `"${s} ,="`),
    );
    const line = fc
      .tuple(
        plain,
        fc.uniqueArray(fc.tuple(plain, plain), { selector: ([k]) => k, maxLength: 3 }),
        fc.uniqueArray(fc.tuple(plain, value), { selector: ([k]) => k, minLength: 1, maxLength: 6 }),
      )
      .map(([m, tags, fields]) => `${m}${tags.map(([k, v]) => `,${k}=${v}`).join('')} ${fields.map(([k, v]) => `${k}=${v}`).join(',')} 1765000000000000000`);
    fc.assert(
      fc.property(line, fc.constantFrom(...CONTEXTS), (text, ctx) => {
        const got = same(text, ctx);
        if (got !== 1) throw new Error(`not passed through: ${text}`);
      }),
      { numRuns: 3000, seed: 0x11ff },
    );
  });

  it('huge lines: 64 fields pass through; 10,000 fields are parsed (the scanner keeps at most 64 keys), with the same result', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}=${String(i / 8)}`).join(',');
    expect(same(`m,k=v ${fields(64)} 1`, topic)).toBe(1);
    expect(same(`m,k=v ${fields(10_000)} 1`, topic)).toBe(0);
    expect(same(`m,k=v s="${'x'.repeat(1_000_000)}" 1`, topic)).toBe(1);
  });

  it('isCanonicalFloat: whatever it takes, String(Number(text)) gives back (property)', () => {
    const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
    const text = fc
      .tuple(fc.boolean(), digits(1, 17), fc.option(digits(1, 17)))
      .map(([neg, i, f]) => `${neg ? '-' : ''}${i.replace(/^0+(?=\d)/, '')}${f === null ? '' : `.${f}`}`);
    fc.assert(
      fc.property(text, (t) => {
        if (isCanonicalFloat(t, 0, t.length)) expect(String(Number(t))).toBe(t);
      }),
      { numRuns: 20_000, seed: 0xf10a },
    );
    for (const t of ['0', '22', '-3', '0.5', '68.3', '987.83', '0.000001', '123456789012345', '0.123456789012345'])
      expect(isCanonicalFloat(t, 0, t.length)).toBe(true);
    for (const t of ['-0', '00', '01', '1.', '.5', '1.50', '1e3', '0.0000001', '1234567890123456', '+1', '1_0', ''])
      expect(isCanonicalFloat(t, 0, t.length)).toBe(false);
  });
});
