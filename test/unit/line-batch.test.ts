import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodedCache } from '../../src/sink/decoded-cache.js';
import { LineBatch, LineWriter } from '../../src/sink/line-batch.js';
import type { Reading } from '../../src/types.js';

describe('LineBatch', () => {
  it('keeps lines as given: text joins them by \\n, line(i) and iteration read them back', () => {
    const lines = ['a,t=x v=1 1', 'é,t=ü s="日本" 2', 'c v=3 3'];
    const b = LineBatch.of(lines);
    expect(b.length).toBe(3);
    expect(b.text()).toBe(lines.join('\n'));
    expect([...b]).toEqual(lines);
    expect(b.line(1)).toBe(lines[1]);
    expect(() => b.line(3)).toThrow(RangeError);
  });

  it('slices share the bytes and clamp like Array.prototype.slice', () => {
    const b = LineBatch.of(['a', 'b', 'c', 'd']);
    expect(b.slice(1, 3).text()).toBe('b\nc');
    expect(b.slice(1, 3).slice(1).text()).toBe('c');
    expect(b.slice(2).length).toBe(2);
    expect(b.slice(3, 1).length).toBe(0);
    expect(b.slice(3, 1).text()).toBe('');
    expect(LineBatch.of([]).text()).toBe('');
    expect(b.slice(1, 3).bytes().toString('utf8')).toBe('b\nc');
    expect(LineBatch.of([]).bytes().length).toBe(0);
  });

  it('bytes() is the UTF-8 of text(), a view of the batch (no copy)', () => {
    const b = LineBatch.of(['é,t=ü v=1 1', 'x s="日本😀" 2', 'z v=3 3']);
    expect(b.bytes().equals(Buffer.from(b.text(), 'utf8'))).toBe(true);
    expect(b.slice(1).bytes().equals(Buffer.from('x s="日本😀" 2\nz v=3 3', 'utf8'))).toBe(true);
    expect(b.bytes().buffer).toBe(b.slice(1, 2).bytes().buffer);
  });

  it('round-trips any lines through a writer that grows and starts over after take()', () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 300 }).map((s) => s.replace(/\n/g, ' '));
    fc.assert(
      fc.property(fc.array(fc.array(line, { maxLength: 200 }), { minLength: 1, maxLength: 4 }), (batches) => {
        const w = new LineWriter(16);
        for (const lines of batches) {
          for (const l of lines) w.add(l);
          expect(w.length).toBe(lines.length);
          const b = w.take();
          expect([...b]).toEqual(lines);
          expect(b.text()).toBe(lines.join('\n'));
          expect(w.length).toBe(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('clear() drops the lines written since the last take()', () => {
    const w = new LineWriter();
    w.add('a v=1 1');
    w.clear();
    w.add('b v=2 2');
    expect([...w.take()]).toEqual(['b v=2 2']);
  });
});

describe('DecodedCache', () => {
  const r = (v: number): Reading[] => [{ measurement: 'm', tags: {}, fields: { v }, time: BigInt(v) }];

  it('answers each consumer once, then lets go of the readings', () => {
    const c = new DecodedCache(2, 8);
    const readings = r(1);
    c.put(5, readings);
    expect(c.take(5)).toBe(readings);
    expect(c.take(5)).toBe(readings);
    expect(c.take(5)).toBeUndefined(); // a third read decodes from the journal
  });

  it('a slot answers only for the seq it holds', () => {
    const c = new DecodedCache(1, 8);
    c.put(1, r(1));
    c.put(9, r(9)); // same slot
    expect(c.take(1)).toBeUndefined();
    expect(c.take(9)?.[0]?.fields.v).toBe(9);
    expect(() => new DecodedCache(0)).toThrow(RangeError);
  });
});
