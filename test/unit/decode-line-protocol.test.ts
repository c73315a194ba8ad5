import { describe, expect, it } from 'vitest';
import { decodeLineProtocol } from '../../src/devices/decode-line-protocol.js';
import type { DecodeContext } from '../../src/devices/rules.js';
import { isDecodeError, type DecodeError, type Reading } from '../../src/types.js';

const AT = 1_000n;
const none: DecodeContext = { tags: {}, receivedAt: AT };

function ok(text: string, ctx: DecodeContext = none): Reading[] {
  const r = decodeLineProtocol(text, ctx);
  if (isDecodeError(r)) throw new Error(`${r.reason}: ${r.message}`);
  return r;
}

function one(text: string, ctx: DecodeContext = none): Reading {
  const r = ok(text, ctx);
  expect(r).toHaveLength(1);
  return r[0] as Reading;
}

function bad(text: string): DecodeError {
  const r = decodeLineProtocol(text, none);
  if (!isDecodeError(r)) throw new Error('expected an error');
  return r;
}

describe('decodeLineProtocol: basics', () => {
  it('parses measurement, tags, fields and timestamp', () => {
    expect(one('climate,location=kitchen,device=th1 temperature=21.5,humidity=40 1700000000000000000')).toEqual({
      measurement: 'climate',
      tags: { location: 'kitchen', device: 'th1' },
      fields: { temperature: 21.5, humidity: 40 },
      time: 1700000000000000000n,
    });
  });

  it('parses every field type', () => {
    const r = one('m f=1,g=-1.5,e=1e3,E=-2E-2,d=.5,p=5.,i=12i,ni=-12i,u=12u,s="hi",b1=t,b2=T,b3=true,b4=True,b5=TRUE,c1=f,c2=F,c3=false,c4=False,c5=FALSE');
    expect(r.fields).toEqual({
      f: 1,
      g: -1.5,
      e: 1000,
      E: -0.02,
      d: 0.5,
      p: 5,
      i: 12n,
      ni: -12n,
      u: 12n,
      s: 'hi',
      b1: true,
      b2: true,
      b3: true,
      b4: true,
      b5: true,
      c1: false,
      c2: false,
      c3: false,
      c4: false,
      c5: false,
    });
    expect(typeof r.fields.f).toBe('number');
  });

  it('keeps the int64 limits exact', () => {
    const r = one('m a=9223372036854775807i,b=-9223372036854775808i,c=9223372036854775807u');
    expect(r.fields).toEqual({ a: 9223372036854775807n, b: -9223372036854775808n, c: 9223372036854775807n });
  });

  it('negative zero float stays a float', () => {
    expect(Object.is(one('m v=-0').fields.v, -0)).toBe(true);
  });

  it('accepts negative and zero timestamps, and the InfluxDB limits', () => {
    expect(one('m v=1 -5').time).toBe(-5n);
    expect(one('m v=1 0').time).toBe(0n);
    expect(one('m v=1 9223372036854775806').time).toBe(9223372036854775806n);
    expect(one('m v=1 -9223372036854775806').time).toBe(-9223372036854775806n);
  });

  it('parses several lines, skipping comments, blank lines, CRLF and extra spaces', () => {
    const r = ok('# header\n\n  # indented comment\r\na v=1 10\r\n\n   b,t=x  v=2   20  \n#tail');
    expect(r.map((x) => [x.measurement, x.tags, x.fields, x.time])).toEqual([
      ['a', {}, { v: 1 }, 10n],
      ['b', { t: 'x' }, { v: 2 }, 20n],
    ]);
  });

  it('a repeated field key keeps the last value', () => {
    expect(one('m v=1,v=2').fields).toEqual({ v: 2 });
  });

  it('handles unicode everywhere', () => {
    expect(one('温度,pièce=séjour 値=1,s="😀"')).toMatchObject({ measurement: '温度', tags: { pièce: 'séjour' }, fields: { 値: 1, s: '😀' } });
  });
});

describe('decodeLineProtocol: escaping', () => {
  it('unescapes measurement commas, spaces and backslashes', () => {
    expect(one('my\\ meas\\,ure v=1').measurement).toBe('my meas,ure');
    expect(one('a\\=b v=1').measurement).toBe('a\\=b');
    expect(one('my\\measurement v=1').measurement).toBe('my\\measurement');
    expect(one('my\\\\measurement v=1').measurement).toBe('my\\measurement');
    expect(one('my\\\\\\measurement v=1').measurement).toBe('my\\\\measurement');
    expect(one('m=x v=1').measurement).toBe('m=x');
  });

  it('unescapes tag keys, tag values and field keys', () => {
    const r = one('m,t\\ k\\,1\\=x=v\\ a\\,l\\=ue\\\\ f\\ k\\=y\\,z=1');
    expect(r.tags).toEqual({ 't k,1=x': 'v a,l=ue\\' });
    expect(r.fields).toEqual({ 'f k=y,z': 1 });
  });

  it('keeps quotes in keys literal', () => {
    expect(one('m,"t"="v" "f"=1').tags).toEqual({ '"t"': '"v"' });
  });

  it('unescapes string field values and allows any other character in them', () => {
    const r = one('m s="a \\"quoted\\" \\\\ back\\slash, = ok",n=1');
    expect(r.fields).toEqual({ s: 'a "quoted" \\ back\\slash, = ok', n: 1 });
    expect(one('m s=""').fields).toEqual({ s: '' });
  });

  it('allows a newline inside a string field value', () => {
    const r = ok('m s="line1\nline2" 5\nm v=2 6');
    expect(r.map((x) => x.fields)).toEqual([{ s: 'line1\nline2' }, { v: 2 }]);
  });
});

describe('decodeLineProtocol: errors name line and column', () => {
  it.each([
    ['m', 1, 2, /missing fields/],
    ['m ', 1, 3, /missing field key/],
    [',t=1 v=1', 1, 1, /missing measurement/],
    ['m,t v=1', 1, 4, /expected "="/],
    ['m,=v v=1', 1, 3, /missing tag key/],
    ['m,t= v=1', 1, 5, /missing tag value/],
    ['m,t=a=b v=1', 1, 6, /unescaped "="/],
    ['m,t=1,t=2 v=1', 1, 7, /duplicate tag "t"/],
    ['m,t=1', 1, 6, /missing fields/],
    ['m v', 1, 4, /expected "="/],
    ['m =1', 1, 3, /missing field key/],
    ['m v=', 1, 5, /missing value/],
    ['m v=1,', 1, 7, /missing field key/],
    ['m v=abc', 1, 5, /invalid value "abc"/],
    ['m v=1.2.3', 1, 5, /invalid value/],
    ['m v=+1', 1, 5, /invalid value/],
    ['m v=NaN', 1, 5, /invalid value/],
    ['m v=Inf', 1, 5, /invalid value/],
    ['m v=1e400', 1, 5, /float64/],
    ['m v=1.5i', 1, 5, /invalid integer/],
    ['m v=9223372036854775808i', 1, 5, /int64/],
    ['m v=-9223372036854775809i', 1, 5, /int64/],
    ['m v=-1u', 1, 5, /invalid unsigned/],
    ['m v=9223372036854775808u', 1, 5, /int64/],
    ['m v=18446744073709551616000u', 1, 5, /int64/],
    ['m v="abc', 1, 5, /unterminated string/],
    ['m v="a"b', 1, 8, /unexpected character/],
    ['m v=1 12a', 1, 7, /invalid timestamp/],
    ['m v=1 1.5', 1, 7, /invalid timestamp/],
    ['m v=1 9223372036854775807', 1, 7, /out of range/],
    ['m v=1 99999999999999999999999999', 1, 7, /out of range/],
    ['m v=1 1 2', 1, 9, /unexpected text after the timestamp/],
    ['ok v=1\n# c\n\nm,t=1 v=x', 4, 9, /invalid value/],
    ['m s="a\nb" 1\nm v=?', 3, 5, /invalid value/],
  ])('%j → line %i column %i', (text, line, col, re) => {
    const e = bad(text);
    expect(e.reason).toBe('invalid_line_protocol');
    expect(e.message).toMatch(new RegExp(`^line ${line}, column ${col}: `));
    expect(e.message).toMatch(re);
  });

  it('rejects the whole payload when any line is bad', () => {
    expect(bad('a v=1\nb v=2\nc v=').reason).toBe('invalid_line_protocol');
  });

  it('only comments or blank lines is no_fields', () => {
    expect(bad('').reason).toBe('no_fields');
    expect(bad('# nothing\n\n   \n').reason).toBe('no_fields');
  });
});

describe('decodeLineProtocol: rule context', () => {
  it('merges topic tags, which win over the line tags', () => {
    const ctx: DecodeContext = { tags: { site: 'a', device: 'real' }, receivedAt: AT };
    expect(one('m,device=spoof,room=k v=1', ctx).tags).toEqual({ device: 'real', room: 'k', site: 'a' });
    expect(one('m v=1', ctx).tags).toBe(ctx.tags);
  });

  it("the rule's measurement replaces the line's", () => {
    expect(one('orig v=1', { measurement: 'forced', tags: {}, receivedAt: AT }).measurement).toBe('forced');
  });
});

describe('decodeLineProtocol: lines without timestamps', () => {
  it('take the arrival time', () => {
    expect(one('m v=1').time).toBe(AT);
  });

  it('repeats of one series are spread by 1 ns so they do not collapse; other series keep the arrival time', () => {
    const r = ok('m v=1\nm v=2\nm,t=x v=3\nother v=4\nm v=5\nm v=6 7\nm,t=x v=8');
    expect(r.map((x) => x.time)).toEqual([AT, AT + 1n, AT, AT, AT + 2n, 7n, AT + 1n]);
  });

  it('judges series on the final tags and measurement', () => {
    // After the topic tag wins, both lines are the same series.
    const r = ok('m,d=a v=1\nm v=2', { tags: { d: 'b' }, receivedAt: AT });
    expect(r.map((x) => x.time)).toEqual([AT, AT + 1n]);
    const s = ok('a v=1\nb v=2', { measurement: 'same', tags: {}, receivedAt: AT });
    expect(s.map((x) => x.time)).toEqual([AT, AT + 1n]);
    // Tag order does not matter.
    const t = ok('m,a=1,b=2 v=1\nm,b=2,a=1 v=2');
    expect(t.map((x) => x.time)).toEqual([AT, AT + 1n]);
  });
});
