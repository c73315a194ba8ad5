import { describe, expect, it } from 'vitest';
import { compareUtf8, encodeLine, escapeName, quoteString } from '../../src/sink/line-protocol.js';
import type { FieldValue, Reading } from '../../src/types.js';

const T = 1_700_000_000_123_456_789n;

function r(measurement: string, tags: Record<string, string>, fields: Record<string, FieldValue>, time = T): Reading {
  return { measurement, tags, fields, time };
}

describe('encodeLine', () => {
  it('writes measurement, sorted tags, fields and the ns timestamp', () => {
    const line = encodeLine(r('climate', { location: 'kitchen', device: 'th1' }, { temperature: 21.5, humidity: 40 }));
    expect(line).toBe('climate,device=th1,location=kitchen temperature=21.5,humidity=40 1700000000123456789');
  });

  it('writes a line without tags', () => {
    expect(encodeLine(r('m', {}, { v: 1 }, 0n))).toBe('m v=1 0');
  });

  it('keeps negative timestamps (before 1970)', () => {
    expect(encodeLine(r('m', {}, { v: 1 }, -5n))).toBe('m v=1 -5');
  });

  describe('escaping', () => {
    it('measurement: comma and space escaped, equals sign not', () => {
      expect(encodeLine(r('a,b c=d', {}, { v: 1 }))).toBe('a\\,b\\ c=d v=1 ' + T);
    });

    it('tag keys and values: comma, equals sign and space escaped', () => {
      expect(encodeLine(r('m', { 'k,e y=': 'v,a l=ue' }, { v: 1 }))).toBe('m,k\\,e\\ y\\==v\\,a\\ l\\=ue v=1 ' + T);
    });

    it('field keys: comma, equals sign and space escaped', () => {
      expect(encodeLine(r('m', {}, { 'f,i e=ld': 1 }))).toBe('m f\\,i\\ e\\=ld=1 ' + T);
    });

    it('string field values: quoted, with double quote and backslash escaped', () => {
      expect(encodeLine(r('m', {}, { s: 'say "hi" C:\\dir\\' }))).toBe('m s="say \\"hi\\" C:\\\\dir\\\\" ' + T);
      expect(quoteString('')).toBe('""');
      expect(quoteString('a,b c=d')).toBe('"a,b c=d"');
    });

    it('a backslash inside a name is written as is (InfluxDB reads it literally)', () => {
      expect(encodeLine(r('m\\x', { 'k\\y': 'v\\z' }, { 'f\\g': 1 }))).toBe('m\\x,k\\y=v\\z f\\g=1 ' + T);
    });

    it('a backslash before a delimiter or at the end is removed (not representable)', () => {
      expect(escapeName('a\\', true)).toBe('a');
      expect(escapeName('a\\\\\\', true)).toBe('a');
      expect(escapeName('a\\,b', true)).toBe('a\\,b'); // the comma escaped, the literal backslash gone
      expect(escapeName('a\\ b', false)).toBe('a\\ b');
      expect(escapeName('a\\=b', true)).toBe('a\\=b');
      expect(escapeName('a\\=b', false)).toBe('a\\=b'); // `=` is not special in a measurement
      expect(encodeLine(r('m\\', { t: 'x\\' }, { 'f\\': 1 }))).toBe('m,t=x f=1 ' + T);
    });

    it('a tag whose value is only backslashes is omitted; such a measurement gives null', () => {
      expect(encodeLine(r('m', { t: '\\\\', u: 'ok' }, { v: 1 }))).toBe('m,u=ok v=1 ' + T);
      expect(encodeLine(r('\\', {}, { v: 1 }))).toBeNull();
    });

    it('newlines never break the line: CR and LF are written as \\r and \\n in every element', () => {
      const line = encodeLine(r('m\nx', { 'k\r\n': 'a\nb' }, { 'f\n': 'line1\nline2\r', g: 1 }));
      expect(line).toBe('m\\nx,k\\r\\n=a\\nb f\\n="line1\\nline2\\r",g=1 ' + T);
      expect(line).not.toMatch(/[\r\n]/);
    });

    it('leading tabs of a measurement are dropped (parsers skip them; a tab has no escape)', () => {
      expect(encodeLine(r('\t\tm', {}, { v: 1 }))).toBe('m v=1 ' + T);
      expect(encodeLine(r('\t#m', {}, { v: 1 }))).toBe('\\#m v=1 ' + T);
      expect(encodeLine(r('m\tx', {}, { v: 1 }))).toBe('m\tx v=1 ' + T); // inside: written as is
      expect(encodeLine(r('\t', {}, { v: 1 }))).toBeNull();
    });

    it('of two tag keys that escape to the same text, the first in key order is kept', () => {
      // `a,b` and `a\,b` both escape to `a\,b`; `k` and `k\` both to `k`.
      expect(encodeLine(r('m', { 'a\\,b': '2', 'a,b': '1', k: 'x', 'k\\': 'y' }, { v: 1 }))).toBe('m,a\\,b=1,k=x v=1 ' + T);
      expect(encodeLine(r('m', { 'a,b': '1', 'a,c': '3', 'a\\,b': '2' }, { v: 1 }))).toBe('m,a\\,b=1,a\\,c=3 v=1 ' + T);
    });

    it('a measurement starting with # is escaped (a line starting with # is a comment)', () => {
      expect(encodeLine(r('#hash', {}, { v: 1 }))).toBe('\\#hash v=1 ' + T);
      expect(encodeLine(r('a#b', {}, { v: 1 }))).toBe('a#b v=1 ' + T);
    });

    it('leaves unicode, tabs, quotes in names and other characters alone', () => {
      expect(encodeLine(r('température', { pièce: 'küche 😀' }, { 'wert€': 'ü😀', 'q"': 1 }))).toBe('température,pièce=küche\\ 😀 wert€="ü😀",q"=1 ' + T);
      expect(escapeName('a\tb', true)).toBe('a\tb');
    });

    it('returns the same string when nothing needs escaping (fast path)', () => {
      const s = 'plain_name-1.2';
      expect(escapeName(s, true)).toBe(s);
    });
  });

  describe('field types', () => {
    it('floats use the shortest text that reads back to the same number', () => {
      const line = encodeLine(r('m', {}, { a: 1, b: -1.5, c: 1e300, d: 5e-324, e: -0, f: 0.1 + 0.2, g: 1.7976931348623157e308 }));
      expect(line).toBe('m a=1,b=-1.5,c=1e+300,d=5e-324,e=0,f=0.30000000000000004,g=1.7976931348623157e+308 ' + T);
      for (let i = 0; i < 1000; i++) {
        const v = (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 40 - 20);
        const text = (encodeLine(r('m', {}, { v })) as string).split(' ')[1]?.slice(2);
        expect(Number(text)).toBe(v);
      }
    });

    it('integers (bigint) get the i suffix, across the whole int64 range', () => {
      expect(encodeLine(r('m', {}, { a: 0n, b: -42n, c: 9223372036854775807n, d: -9223372036854775808n }))).toBe(
        'm a=0i,b=-42i,c=9223372036854775807i,d=-9223372036854775808i ' + T,
      );
    });

    it('integers outside int64 are skipped', () => {
      expect(encodeLine(r('m', {}, { big: 9223372036854775808n, ok: 1n, small: -9223372036854775809n }))).toBe('m ok=1i ' + T);
    });

    it('booleans are true/false', () => {
      expect(encodeLine(r('m', {}, { on: true, off: false }))).toBe('m on=true,off=false ' + T);
    });

    it('NaN and infinities are skipped; null when no field remains', () => {
      expect(encodeLine(r('m', {}, { a: NaN, b: 2, c: Infinity, d: -Infinity }))).toBe('m b=2 ' + T);
      expect(encodeLine(r('m', {}, { a: NaN, c: Infinity }))).toBeNull();
      expect(encodeLine(r('m', { t: 'x' }, {}))).toBeNull();
    });

    it('fields keep their order; a field with an empty key is skipped', () => {
      expect(encodeLine(r('m', {}, { z: 1, '': 2, a: 3 }))).toBe('m z=1,a=3 ' + T);
    });

    it('values of unexpected types are skipped rather than written wrong', () => {
      const fields = { a: undefined, b: null, c: {}, d: 1 } as unknown as Record<string, FieldValue>;
      expect(encodeLine(r('m', {}, fields))).toBe('m d=1 ' + T);
    });
  });

  describe('tags', () => {
    it('are sorted by key in UTF-8 byte order', () => {
      expect(encodeLine(r('m', { b: '1', a: '2', Z: '3', ä: '4', '😀': '5', '\uffee': '6' }, { v: 1 }))).toBe('m,Z=3,a=2,b=1,ä=4,\uffee=6,😀=5 v=1 ' + T);
    });

    it('with an empty value or key are omitted', () => {
      expect(encodeLine(r('m', { a: '', b: 'x', '': 'y' }, { v: 1 }))).toBe('m,b=x v=1 ' + T);
    });

    it('an empty measurement gives null', () => {
      expect(encodeLine(r('', {}, { v: 1 }))).toBeNull();
    });
  });
});

describe('encodeLine: series text cached for frozen tags', () => {
  it('writes the same line for frozen and plain tags, and follows a measurement change on the same tags', () => {
    const tags = Object.freeze({ room: 'a b', device: 'th,1' });
    const plain = encodeLine(r('climate', { room: 'a b', device: 'th,1' }, { t: 1 }));
    expect(encodeLine(r('climate', tags, { t: 1 }))).toBe(plain);
    expect(encodeLine(r('climate', tags, { t: 1 }))).toBe(plain); // from the cache
    expect(encodeLine(r('other', tags, { t: 1 }))).toBe('other,device=th\\,1,room=a\\ b t=1 1700000000123456789');
    expect(encodeLine(r('', tags, { t: 1 }))).toBeNull();
  });

  it('caches the text of any tags as it was: non-ASCII, astral and lone surrogate characters come back the same', () => {
    const values = ['Küche', '温度计', '😀 sensor', 'bad\ud800half', 'x'.repeat(40) + '\udc00'];
    for (const v of values) {
      const plain = encodeLine(r('climate', { device: v, room: 'long enough to be a concatenation' }, { t: 1 }));
      const tags = Object.freeze({ device: v, room: 'long enough to be a concatenation' });
      expect(encodeLine(r('climate', tags, { t: 1 }))).toBe(plain);
      expect(encodeLine(r('climate', tags, { t: 1 }))).toBe(plain); // from the cache
    }
  });
});

describe('compareUtf8', () => {
  it('orders like a byte comparison of the UTF-8 encodings', () => {
    const alphabet = ['a', 'Z', '0', ' ', 'é', '€', '\ud7ff', '\ue000', '\uffee', '😀', '𝄞', ',', '\u0000'];
    const rnd = (): string => Array.from({ length: Math.floor(Math.random() * 4) }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const a = rnd();
      const b = rnd();
      expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });
});
