import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PayloadArena, diff, diffed, undiffInto } from '../../src/journal/payload-diff.js';
import { VarintReader, unzigzag, writeBigVarint, writeVarint, zigzag } from '../../src/journal/varint.js';

/** The payload coded in `buf[start, end)` against `ref`, in a buffer of its own. */
function undiff(buf: Buffer, start: number, end: number, ref: Buffer): Buffer {
  const arena = new PayloadArena(0);
  const at = undiffInto(buf, start, end, ref, arena);
  return arena.buf.subarray(at, arena.used);
}

/** The code of `p` against `ref` as its own buffer, or undefined when coding does not pay. */
function code(p: Buffer, ref: Buffer): Buffer | undefined {
  const d = diff(p, ref);
  return d === 0 ? undefined : Buffer.from(diffed(d));
}

describe('payload diff: a payload coded against its topic’s reference', () => {
  it('codes a reading that differs from the reference in a few digits to a fraction of its size, and back', () => {
    const ref = Buffer.from('{"temperature":21.53,"humidity":40.1,"battery":97,"linkquality":120}');
    const p = Buffer.from('{"temperature":21.6,"humidity":40.25,"battery":97,"linkquality":118}');
    const c = code(p, ref)!;
    expect(c.length).toBeLessThan(p.length / 2);
    expect(undiff(c, 0, c.length, ref).toString()).toBe(p.toString());
  });

  it('does not code what would not get shorter (an unrelated payload)', () => {
    expect(code(Buffer.from('completely different text here'), Buffer.from('{"t":1,"h":2,"p":3,"q":4}'))).toBeUndefined();
  });

  it('round-trips any payload against any reference, whenever it codes it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 16, maxLength: 300 }), fc.nat(40), (pa, ra, cut) => {
        const ref = Buffer.from(ra);
        // Half the cases: a payload made of the reference with a few bytes changed.
        const p = cut % 2 === 0 ? Buffer.from(pa) : Buffer.concat([ref.subarray(0, cut), Buffer.from(pa.slice(0, 3)), ref.subarray(cut)]);
        const c = code(p, ref);
        if (c !== undefined) expect(undiff(c, 0, c.length, ref).equals(p)).toBe(true);
      }),
    );
  });

  it('refuses a malformed code (a copy past the reference, an overrun, too short) with a RangeError', () => {
    const ref = Buffer.from('0123456789abcdef');
    const c = code(Buffer.from('0123456789abcdeX0123456789abcdef'), ref)!;
    expect(() => undiff(c, 0, c.length, Buffer.from('01'))).toThrow(RangeError);
    expect(() => undiff(c, 0, c.length - 1, ref)).toThrow(RangeError);
    expect(() => undiff(Buffer.from([10, 2, 65, 66]), 0, 4, ref)).toThrow(RangeError);
  });

  it('decodes many payloads one after another into an arena; a full arena takes a new buffer and the earlier payloads stay intact', () => {
    const ref = Buffer.from('{"temperature":21.53,"humidity":40.1,"battery":97}');
    const arena = new PayloadArena(128); // room for about two payloads
    const got: { buf: Buffer; start: number; end: number; want: string }[] = [];
    const buffers = new Set<Buffer>();
    for (let i = 0; i < 10; i++) {
      const want = `{"temperature":21.${10 + i},"humidity":40.${i},"battery":97}`;
      const c = code(Buffer.from(want), ref)!;
      const start = undiffInto(c, 0, c.length, ref, arena);
      got.push({ buf: arena.buf, start, end: arena.used, want });
      buffers.add(arena.buf);
    }
    expect(buffers.size).toBeGreaterThan(2); // it moved on to new buffers
    expect(buffers.size).toBeLessThan(10); // and shared each between payloads
    for (const g of got) expect(g.buf.toString('utf8', g.start, g.end)).toBe(g.want);
  });

  it('gives a payload bigger than the arena’s chunk a buffer of its own size', () => {
    const ref = Buffer.from('x'.repeat(300));
    const want = 'x'.repeat(150) + 'y' + 'x'.repeat(149);
    const c = code(Buffer.from(want), ref)!;
    const arena = new PayloadArena(16);
    const start = undiffInto(c, 0, c.length, ref, arena);
    expect(arena.buf.toString('utf8', start, arena.used)).toBe(want);
  });
});

describe('varints of the block format', () => {
  it('round-trips numbers below 2^53 and zigzag-coded signed ones; a bigint base time too', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n, s, big) => {
        const buf = Buffer.alloc(40);
        let at = writeVarint(buf, 0, n);
        at = writeVarint(buf, at, zigzag(s));
        const end = writeBigVarint(buf, at, big);
        const r = new VarintReader(buf, 0, end);
        expect([r.varint(), unzigzag(r.varint()), r.bigZigzag(), r.at]).toEqual([n, s, big, end]);
      }),
    );
  });

  it('a read past the end, or a varint longer than any it writes, throws a RangeError', () => {
    expect(() => new VarintReader(Buffer.from([0x80, 0x80]), 0, 2).varint()).toThrow('truncated varint');
    expect(() => new VarintReader(Buffer.alloc(9, 0xff), 0, 9).varint()).toThrow('varint too long');
    expect(() => new VarintReader(Buffer.from([1, 2]), 0, 2).skip(3)).toThrow('past the end');
  });
});
