import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PacketLengthParser } from 'serialport';
import { FrameSplitter, type FrameSplitterOptions } from '../../src/sources/serial/frame-splitter.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SDS_A = hex('AA C0 D4 04 3A 0A A1 60 1D AB');
const SDS_B = hex('AA C0 19 00 29 00 A1 60 43 AB');
const PMS = hex('42 4D 00 1C 00 0C 00 12 00 14 00 0B 00 11 00 14 08 34 02 8A 00 78 00 0E 00 04 00 01 97 00 02 F7');

const sds: FrameSplitterOptions = {
  start: hex('AA C0'),
  length: 10,
  end: hex('AB'),
  checksum: { type: 'sum8', from: 2, to: 8, at: 8 },
  maxLength: 64,
};
const pms: FrameSplitterOptions = {
  start: hex('42 4D'),
  lengthField: { offset: 2, bytes: 2, endian: 'be', add: 4 },
  checksum: { type: 'sum16be', from: 0, to: -2, at: -2 },
  maxLength: 64,
};

/** Feeds chunks (each written separately) and collects the output and junk counts. */
function run(opts: FrameSplitterOptions, chunks: Buffer[], end = false): { out: string[]; junk: number[] } {
  const s = new FrameSplitter(opts);
  const out: string[] = [];
  const junk: number[] = [];
  s.on('data', (b: Buffer) => out.push(b.toString('hex')));
  s.on('junk', (n: number) => junk.push(n));
  for (const c of chunks) s.write(c);
  if (end) s.end();
  return { out, junk };
}

describe('FrameSplitter', () => {
  it('splits back-to-back frames, also when chunks cut them anywhere', () => {
    const stream = Buffer.concat([SDS_A, SDS_B, SDS_A]);
    for (let cut = 1; cut < stream.length; cut++) {
      const { out, junk } = run(sds, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(out, `cut at ${cut}`).toEqual([SDS_A, SDS_B, SDS_A].map((b) => b.toString('hex')));
      expect(junk).toEqual([]);
    }
    const bytewise = run(
      sds,
      [...stream].map((b) => Buffer.from([b])),
    );
    expect(bytewise.out).toHaveLength(3);
  });

  it('emits garbage between frames as one junk chunk before the next frame, and counts it', () => {
    const { out, junk } = run(sds, [Buffer.concat([hex('00 11 22'), SDS_A, hex('FF FE'), SDS_B])]);
    expect(out).toEqual(['001122', SDS_A.toString('hex'), 'fffe', SDS_B.toString('hex')]);
    expect(junk).toEqual([3, 2]);
  });

  it('resynchronises after a truncated frame without losing the frame that follows', () => {
    const truncated = SDS_A.subarray(0, 6);
    const { out, junk } = run(sds, [Buffer.concat([truncated, SDS_B])]);
    expect(out).toEqual([truncated.toString('hex'), SDS_B.toString('hex')]);
    expect(junk).toEqual([6]);
  });

  it('skips a frame with a bad checksum and a false start inside garbage', () => {
    const bad = Buffer.from(SDS_A);
    bad[8] = 0x1e;
    const falseStart = hex('AA C0 01');
    const { out, junk } = run(sds, [Buffer.concat([bad, falseStart, SDS_B])]);
    expect(out).toEqual([Buffer.concat([bad, falseStart]).toString('hex'), SDS_B.toString('hex')]);
    expect(junk).toEqual([13]);
  });

  it('reads the length from the frame (PMS5003) and resyncs past a garbage byte before 42 4D', () => {
    const { out, junk } = run(pms, [Buffer.concat([hex('00'), PMS, hex('42'), PMS])]);
    expect(out).toEqual(['00', PMS.toString('hex'), '42', PMS.toString('hex')]);
    expect(junk).toEqual([1, 1]);
  });

  it('rejects an impossible length field at once instead of waiting for it', () => {
    const huge = hex('42 4D FF FF 00');
    const { out } = run(pms, [Buffer.concat([huge, PMS])]);
    expect(out).toEqual([huge.toString('hex'), PMS.toString('hex')]);
  });

  it('keeps a possible start at the end of the input until more bytes come', () => {
    const s = new FrameSplitter(sds);
    const out: string[] = [];
    s.on('data', (b: Buffer) => out.push(b.toString('hex')));
    s.write(hex('00 00 AA'));
    expect(s.buffered).toBe(3);
    s.write(SDS_A.subarray(1));
    expect(out).toEqual(['0000', SDS_A.toString('hex')]);
    expect(s.buffered).toBe(0);
  });

  it('bounds junk: a long run is emitted once it reaches maxLength', () => {
    const { out, junk } = run({ ...sds, maxLength: 16 }, [Buffer.alloc(40, 0x55)]);
    expect(out).toEqual(['55'.repeat(16), '55'.repeat(16)]);
    expect(junk).toEqual([16, 16]);
  });

  it('flushes what is left as junk on end', () => {
    const { out, junk } = run(sds, [SDS_A, SDS_B.subarray(0, 4)], true);
    expect(out).toEqual([SDS_A.toString('hex'), SDS_B.subarray(0, 4).toString('hex')]);
    expect(junk).toEqual([4]);
  });
});

describe('why not PacketLengthParser (serialport 13) for PMS5003', () => {
  it('misses every frame after one garbage byte before a 2-byte start', () => {
    const p = new PacketLengthParser({ delimiter: 0x424d, delimiterBytes: 2, lengthOffset: 2, lengthBytes: 2, packetOverhead: 4, maxLen: 64 });
    const out: Buffer[] = [];
    p.on('data', (b: Buffer) => out.push(b));
    p.write(Buffer.concat([hex('00'), PMS, PMS, PMS]));
    // It keeps the oldest byte and drops the newest on a mismatch, so it never sees 42 4D again.
    expect(out.filter((b) => b.equals(PMS))).toHaveLength(0);
    const s = run(pms, [Buffer.concat([hex('00'), PMS, PMS, PMS])]);
    expect(s.out.filter((h) => h === PMS.toString('hex'))).toHaveLength(3);
  });
});

describe('FrameSplitter properties (fast-check)', () => {
  const frame = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b, id]) => {
    const f = Buffer.from([0xaa, 0xc0, a & 0xff, a >> 8, b & 0xff, b >> 8, id & 0xff, id >> 8, 0, 0xab]);
    let sum = 0;
    for (let i = 2; i < 8; i++) sum += f[i] as number;
    f[8] = sum & 0xff;
    return f;
  });
  // Garbage without 0xAA cannot start a frame, so every frame must come out whole.
  const garbage = fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u.filter((b) => b !== 0xaa)));
  const stream = fc.array(fc.tuple(garbage, frame), { maxLength: 20 });

  it('loses and invents no byte: the output concatenated is the input, for any chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }), (bytes, sizes) => {
        const input = Buffer.from(bytes);
        const chunks: Buffer[] = [];
        for (let i = 0, k = 0; i < input.length; k++) {
          const n = sizes[k % sizes.length] as number;
          chunks.push(input.subarray(i, i + n));
          i += n;
        }
        const { out } = run(sds, chunks, true);
        expect(Buffer.from(out.join(''), 'hex')).toEqual(input);
      }),
    );
  });

  it('every frame between garbage comes out as one chunk, in order', () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 13 }), (parts, size) => {
        const input = Buffer.concat(parts.flatMap(([g, f]) => [g, f]));
        const chunks: Buffer[] = [];
        for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
        const { out, junk } = run(sds, chunks, true);
        const frames = parts.map(([, f]) => f.toString('hex'));
        expect(out.filter((h) => frames.includes(h))).toEqual(frames);
        expect(junk.reduce((a, b) => a + b, 0)).toBe(parts.reduce((a, [g]) => a + g.length, 0));
      }),
    );
  });
});
