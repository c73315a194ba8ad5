import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/journal/journal.js';
import { FrameRecord, checkFrame, decodeFrame, encodeFrame, maxFrameBytes, recordBytes } from '../../src/journal/record-codec.js';
import { entry, fieldsOf } from '../fixtures/journal-entries.js';

function frame(e: JournalEntry, seq: number, at = 7): { buf: Buffer; len: number } {
  const buf = Buffer.alloc(at + maxFrameBytes(e));
  const len = encodeFrame(buf, seq, e, at);
  return { buf, len };
}

describe('record codec', () => {
  const cases: JournalEntry[] = [
    entry(3),
    { sourceId: '', topic: '', payload: Buffer.alloc(0), receivedAt: 0n },
    { sourceId: 'sérial-ü', topic: 'maison/cuisine/température/😀', payload: Buffer.from('{"t":21.5}'), receivedAt: -1n },
    { sourceId: 'a', topic: 't', payload: Buffer.from([0, 255, 10]), receivedAt: 2n ** 63n - 1n },
    { sourceId: 'a', topic: 't', payload: Buffer.from('x'), receivedAt: -(2n ** 63n) },
    // ASCII up to a non-ASCII character late in the string (the writer restarts in UTF-8), and a long topic.
    { sourceId: 'abcdefgh', topic: `${'a/'.repeat(20)}ß`, payload: Buffer.from('y'), receivedAt: 3n },
    { sourceId: 'a', topic: 'x'.repeat(300), payload: Buffer.from('z'), receivedAt: 4n },
  ];

  it('reads back what it wrote, as a FrameRecord and through decodeFrame alike', () => {
    cases.forEach((e, i) => {
      const seq = 2 ** 40 + i;
      const { buf, len } = frame(e, seq);
      expect(checkFrame(buf, 7, buf.length)).toBe(len);
      const rec = new FrameRecord(buf, 7, len);
      expect(rec.seq).toBe(seq);
      expect(rec.frameBytes).toBe(len);
      expect(recordBytes(rec)).toBe(len);
      expect(fieldsOf(rec)).toEqual({ ...e, seq });
      expect(decodeFrame(buf, 7, len)).toEqual({ ...e, seq });
      // The payload as a range of the frame's bytes: the bytes of the Buffer view.
      const range = rec.payloadRange();
      expect(range.buf.subarray(range.start, range.end).equals(e.payload)).toBe(true);
      expect(range.buf).toBe(buf);
      // Asked twice, the same objects: decoded once.
      expect(rec.payload).toBe(rec.payload);
      expect(JSON.parse(JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))).toMatchObject({
        seq,
        topic: e.topic,
        sourceId: e.sourceId,
        receivedAt: String(e.receivedAt),
      });
    });
  });

  it('a payload is a view into the frame, not a copy', () => {
    const { buf, len } = frame(entry(1), 1);
    const rec = new FrameRecord(buf, 7, len);
    buf[7 + len - 1] = 0x21;
    expect(rec.payload[rec.payload.length - 1]).toBe(0x21);
  });

  it('refuses an arrival time outside int64 instead of wrapping it', () => {
    const e = { ...entry(0), receivedAt: 2n ** 63n };
    expect(() => frame(e, 0)).toThrow(/outside int64/);
  });

  it('estimates the frame size of records that did not come from a frame', () => {
    const e = { ...entry(2), seq: 2 };
    const { len } = frame(e, 2);
    expect(recordBytes(e)).toBe(len); // ASCII strings: the estimate is exact
  });
});
