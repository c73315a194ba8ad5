import { describe, expect, it } from 'vitest';
import { decodeNumber } from '../../src/devices/decode-number.js';
import { isDecodeError, type Reading } from '../../src/types.js';

const ctx = { measurement: 'plain', tags: { device: 'd1' }, receivedAt: 123n };

function value(text: string): number | boolean | bigint | string | undefined {
  const r = decodeNumber(text, 'temp', ctx);
  if (isDecodeError(r)) throw new Error(`${r.reason}: ${r.message}`);
  expect(r).toHaveLength(1);
  return (r[0] as Reading).fields.temp;
}

describe('decodeNumber', () => {
  it('decodes a plain number into one float field at arrival time', () => {
    expect(decodeNumber('21.5', 'temp', ctx)).toEqual([{ measurement: 'plain', tags: { device: 'd1' }, fields: { temp: 21.5 }, time: 123n }]);
  });

  it.each([
    ['21.5', 21.5],
    [' 21.5\n', 21.5],
    ['\t-3\r\n', -3],
    ['+4', 4],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['-2.5e+2', -250],
    ['.5', 0.5],
    ['5.', 5],
    ['007', 7],
    ['40', 40],
    ['1.7976931348623157e308', Number.MAX_VALUE],
  ])('%j → %d', (text, want) => {
    expect(value(text)).toBe(want);
  });

  it('keeps negative zero as a float', () => {
    expect(Object.is(value('-0'), -0)).toBe(true);
  });

  it('integers stay floats (the number format has no integer option)', () => {
    expect(typeof value('42')).toBe('number');
  });

  it('decodes true and false as booleans', () => {
    expect(value('true')).toBe(true);
    expect(value(' false\n')).toBe(false);
  });

  it.each([
    '',
    '   ',
    'abc',
    '0x10',
    'Infinity',
    '-Infinity',
    'NaN',
    '1_000',
    '1,5',
    '21.5°C',
    '"21.5"',
    'TRUE',
    '1e',
    'e3',
    '.',
    '+',
    '--1',
    '1e400',
    '-1e400',
    '1 2',
  ])('rejects %j as invalid_number', (text) => {
    const r = decodeNumber(text, 'temp', ctx);
    expect(isDecodeError(r) && r.reason).toBe('invalid_number');
  });

  it('bounds the error message for huge payloads', () => {
    const r = decodeNumber('9'.repeat(500) + 'x', 'temp', ctx);
    expect(isDecodeError(r) && r.message.length < 100).toBe(true);
  });

  it('an empty field name is no_fields', () => {
    const r = decodeNumber('1', '', ctx);
    expect(isDecodeError(r) && r.reason).toBe('no_fields');
  });

  it('any field name works, unicode and __proto__ included', () => {
    const a = decodeNumber('1', 'température', ctx);
    expect(!isDecodeError(a) && a[0]?.fields).toEqual({ température: 1 });
    const b = decodeNumber('1', '__proto__', ctx);
    expect(!isDecodeError(b) && Object.keys(b[0]?.fields ?? {})).toEqual(['__proto__']);
  });
});
