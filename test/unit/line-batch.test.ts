import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodedCache } from '../../src/ingest/decoded-cache.js';
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
    // Mostly ASCII lines with a few others: the writer copies 64 lines at once and finds
    // each line's offset by characters when the copy was ASCII, by UTF-8 bytes otherwise.
    const line = fc
      .oneof(
        { arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 120 }), weight: 8 },
        { arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }), weight: 1 },
      )
      .map((s) => s.replace(/\n/g, ' '));
    fc.assert(
      fc.property(fc.array(fc.array(line, { maxLength: 300 }), { minLength: 1, maxLength: 4 }), (batches) => {
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
    for (let i = 0; i < 100; i++) w.add(`c v=${i} ${i}`); // some copied into the buffer, some not yet
    w.clear();
    expect(w.length).toBe(0);
    w.add('d v=4 4');
    expect([...w.take()]).toEqual(['d v=4 4']);
  });

  it('finds each line of a mostly ASCII run that holds one non-ASCII line', () => {
    const lines = Array.from({ length: 130 }, (_, i) => (i === 70 ? `é,t=ü v=${i} ${i}` : `m,t=x v=${i} ${i}`));
    const w = new LineWriter();
    for (const l of lines) w.add(l);
    const b = w.take();
    expect([...b]).toEqual(lines);
    expect(b.slice(69, 72).text()).toBe(lines.slice(69, 72).join('\n'));
    expect(b.bytes().equals(Buffer.from(lines.join('\n'), 'utf8'))).toBe(true);
  });

  it('a recycled batch gives its buffer to a later batch of the same writer, and reading it (or a slice of it) afterwards throws', () => {
    const w = new LineWriter();
    const first = Array.from({ length: 300 }, (_, i) => `m,s=a v=${i}i ${i}`);
    for (const l of first) w.add(l);
    const a = w.take();
    const aBytes = a.bytes();
    const part = a.slice(10, 20);
    a.recycle();
    a.recycle(); // twice: nothing more happens
    expect(() => a.text()).toThrow(/recycled/);
    expect(() => part.line(0)).toThrow(/recycled/);
    expect(() => [...a]).toThrow(/recycled/);
    const second = Array.from({ length: 250 }, (_, i) => `other,t=b f=${i * 2}i ${i}`);
    for (const l of second) w.add(l);
    const b = w.take();
    expect(b.bytes().buffer).toBe(aBytes.buffer); // the same memory, not a new allocation
    expect([...b]).toEqual(second);
    expect(b.text()).toBe(second.join('\n'));
    // Not recycled: the next batch gets fresh memory and b stays intact.
    for (const l of first) w.add(l);
    const c = w.take();
    expect(c.bytes().buffer).not.toBe(b.bytes().buffer);
    expect([...b]).toEqual(second);
    expect([...c]).toEqual(first);
  });

  it('a recycled buffer far larger than the batches now written is let go', () => {
    const w = new LineWriter();
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 400; i++) w.add(`m v=${i}i,s="${big}"`);
    const huge = w.take();
    const hugeMemory = huge.bytes().buffer;
    for (let round = 0; round < 3; round++) {
      w.add('m v=1i');
      w.take().recycle(); // the writer's capacity follows the small batches down
    }
    huge.recycle();
    w.add('m v=2i');
    const next = w.take();
    expect(next.bytes().buffer).not.toBe(hugeMemory);
    expect(next.text()).toBe('m v=2i');
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

  it('keeps nothing while its only drain is more than a ring behind (an output down): the readings die young', () => {
    const c = new DecodedCache(1, 8);
    c.put(0, r(0));
    expect(c.take(0)).toBeDefined(); // the drain reads at seq 0, then its output goes down
    c.put(8, r(8)); // 8 behind: it may still come for it before the slot is reused
    c.put(9, r(9)); // 9 behind: it cannot
    expect(c.take(9)).toBeUndefined();
    c.put(10, r(10)); // the drain asked for 9: 10 is near again
    expect(c.take(10)?.[0]?.fields.v).toBe(10);
    expect(c.take(8)?.[0]?.fields.v).toBe(8);
  });

  it('a drain far behind is not waited for: the slot lets go once the drains near the head took it', () => {
    const c = new DecodedCache(2, 8);
    c.take(0, 0);
    c.take(0, 1); // both start at 0; drain 1's output goes down there
    for (let seq = 1; seq <= 20; seq++) {
      c.put(seq, r(seq));
      expect(c.take(seq, 0)?.[0]?.fields.v).toBe(seq);
    }
    expect(c.take(20, 1)).toBeUndefined(); // drain 1 decodes from the journal; the readings were let go
    c.put(21, r(21)); // drain 1 is near again: the slot waits for both
    expect(c.take(21, 0)).toBeDefined();
    expect(c.take(21, 1)).toBeDefined();
    expect(c.take(21, 1)).toBeUndefined();
  });
});
