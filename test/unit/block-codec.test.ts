/**
 * Journal format 2 (block-codec.ts): blocks read back exactly what was staged, a torn or
 * damaged block is never read as good, every segment's dictionary stands on its own, one
 * damaged block does not take the dictionary entries it defined with it, and a spool written
 * in format 1 (the frames of earlier releases) is still read and drained.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkUnit, decodeBlock, unitCount, unitSeq } from '../../src/journal/block-codec.js';
import type { JournalEntry, JournalRecord } from '../../src/journal/journal.js';
import { encodeFrame, maxFrameBytes } from '../../src/journal/record-codec.js';
import { SegmentDict } from '../../src/journal/segment-dict.js';
import { scanSegment } from '../../src/journal/segment-scan.js';
import { Segment, segmentFileName } from '../../src/journal/segment.js';
import { WriteBatch } from '../../src/journal/write-batch.js';
import { Counters } from '../../src/observe/counters.js';
import { fileJournals } from '../helpers/file-journals.js';
import { entry, fieldsOf, payloadOf } from '../fixtures/journal-entries.js';

const { tmp, journal, closed } = fileJournals('edgeflux-blk-');

/** Encodes `batches` (seqs from 0 on) as one segment's file would hold them. */
function encodeSegment(batches: readonly (readonly JournalEntry[])[]): { file: Buffer; blockStarts: number[] } {
  const dict = new SegmentDict();
  const parts: Buffer[] = [];
  const blockStarts: number[] = [];
  let seq = 0;
  let at = 0;
  for (const entries of batches) {
    const b = new WriteBatch();
    for (const e of entries) b.add(e, 0);
    b.encode(seq, dict);
    for (const n of b.unitLens) {
      blockStarts.push(at);
      at += n;
    }
    parts.push(Buffer.from(b.buf.subarray(0, b.len)));
    seq += entries.length;
  }
  return { file: Buffer.concat(parts), blockStarts };
}

/** Every record of a segment file, decoded as a reader with a fresh dictionary does. */
function decodeSegment(file: Buffer): { records: JournalRecord[]; lost: number[] } {
  const dict = new SegmentDict();
  const records: JournalRecord[] = [];
  const lost: number[] = [];
  for (let pos = 0; pos < file.length;) {
    const len = checkUnit(file, pos, file.length);
    if (len <= 0) break;
    decodeBlock(file, pos, len, 0, Infinity, dict, records, (s) => lost.push(s));
    pos += len;
  }
  return { records, lost };
}

const text = fc.string({ unit: 'binary', maxLength: 40 });
const time = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: 1_700_000_000_000_000n, max: 1_800_000_000_000_000n }).map((us) => us * 1000n),
);
const entryArb = fc.record({
  sourceId: fc.constantFrom('mqtt-a', 'broker', 'serial:/dev/ttyUSB0', ''),
  topic: fc.oneof(fc.constantFrom('sensors/dev-0421/climate', 'sensors/dev-0422/climate', ''), text),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  receivedAt: time,
});

describe('journal blocks (format 2)', () => {
  it('read back exactly what was encoded, for any entries, batches and arrival times (fuzz)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(entryArb, { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 12 }), (batches) => {
        const { file } = encodeSegment(batches);
        const { records, lost } = decodeSegment(file);
        expect(lost).toEqual([]);
        const all = batches.flat();
        expect(records.map(fieldsOf)).toEqual(all.map((e, seq) => ({ ...e, seq })));
      }),
      { numRuns: 300 },
    );
  });

  it("payloads coded against their topic's reference read back exactly (fuzz: readings that differ in a few digits, and any bytes)", () => {
    const reading = fc
      .record({
        device: fc.integer({ min: 0, max: 4 }),
        t: fc.double({ min: -40, max: 60, noNaN: true }),
        h: fc.integer({ min: 0, max: 100 }),
        seq: fc.nat(),
        extra: fc.oneof(
          fc.constant(''),
          fc.string({ maxLength: 30 }),
          fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
        ),
      })
      .map(({ device, t, h, seq, extra }) => ({
        sourceId: 'mqtt-a',
        topic: `sensors/dev-${device}/climate`,
        payload: Buffer.from(`{"temperature":${t},"humidity":${h},"seq":${seq}${extra ? `,"x":${JSON.stringify(extra)}` : ''},"ts":${1765000000000 + seq}}`),
        receivedAt: 1_765_000_000_000_000_000n + BigInt(seq) * 1000n,
      }));
    fc.assert(
      fc.property(fc.array(fc.array(reading, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 15 }), (batches) => {
        const { file } = encodeSegment(batches);
        const { records, lost } = decodeSegment(file);
        expect(lost).toEqual([]);
        expect(records.map(fieldsOf)).toEqual(batches.flat().map((e, seq) => ({ ...e, seq })));
      }),
      { numRuns: 300 },
    );
  });

  it('reads from any seq inside a block and stops at `max` inside one', () => {
    const entries = Array.from({ length: 30 }, (_, i) => entry(i));
    const { file } = encodeSegment([entries]);
    const len = checkUnit(file, 0, file.length);
    expect(len).toBe(file.length);
    expect(unitCount(file, 0)).toBe(30);
    expect(unitSeq(file, 0)).toBe(0);
    const out: JournalRecord[] = [];
    const went = decodeBlock(file, 0, len, 12, 5, new SegmentDict(), out, () => undefined);
    expect(went).toBe(17);
    expect(out.map(fieldsOf)).toEqual([12, 13, 14, 15, 16].map((i) => ({ ...entry(i), seq: i })));
  });

  it('a block cut at any byte, or with any byte changed, is never read as good (torn tail: cut cleanly)', () => {
    const batches = [Array.from({ length: 6 }, (_, i) => entry(i)), Array.from({ length: 5 }, (_, i) => entry(6 + i))];
    const { file, blockStarts } = encodeSegment(batches);
    const last = blockStarts[blockStarts.length - 1]!;
    expect(blockStarts).toHaveLength(2);
    for (let cut = last + 1; cut < file.length; cut++) {
      const seg = new Segment('/nonexistent', 0);
      const found = scanSegment(file.subarray(0, cut), seg, Number.MAX_SAFE_INTEGER, new SegmentDict());
      expect({ cut, validEnd: found.validEnd, records: seg.records, endSeq: seg.endSeq }).toEqual({ cut, validEnd: last, records: 6, endSeq: 6 });
    }
    for (let at = last; at < file.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(file);
        bad[at]! ^= flip;
        const seg = new Segment('/nonexistent', 0);
        const found = scanSegment(bad, seg, Number.MAX_SAFE_INTEGER, new SegmentDict());
        expect({ at, flip, validEnd: found.validEnd, records: seg.records }).toEqual({ at, flip, validEnd: last, records: 6 });
      }
    }
  });

  it('a journal cut inside its last block at every offset reopens with the blocks before it, the cut counted', async () => {
    const dir = tmp();
    const j = journal(dir);
    await j.open();
    for (let i = 0; i < 4; i++) j.stage(entry(i));
    j.flush();
    const before = j.stats().bytes;
    for (let i = 4; i < 7; i++) j.stage(entry(i));
    j.flush();
    const after = j.stats().bytes;
    await j.close();
    const file = path.join(dir, 'segments', segmentFileName(0));
    const whole = fs.readFileSync(file);
    expect(whole.length).toBe(after);
    // Every 7th offset through the real journal (each reopen opens LevelDB); every offset is covered by the scan test above.
    for (let cut = before + 1; cut < after; cut += 7) {
      fs.writeFileSync(file, whole.subarray(0, cut));
      const k = journal(dir);
      expect(await k.open()).toEqual({ records: 4, damaged: 1, truncatedBytes: cut - before, headSeq: 4, oldestSeq: 0 });
      expect((await k.read(0, 100)).map(fieldsOf)).toEqual([0, 1, 2, 3].map((i) => ({ ...entry(i), seq: i })));
      await k.close();
      closed(k);
    }
  });

  it('every segment has a dictionary of its own: rotation starts a new one, and each reads back alone', async () => {
    const dir = tmp();
    const j = journal(dir, { segmentBytes: 4096 });
    await j.open();
    for (let i = 0; i < 600; i++) {
      j.stage(entry(i));
      if (i % 7 === 6) j.flush();
    }
    j.flush();
    await j.close();
    const files = fs.readdirSync(path.join(dir, 'segments')).sort();
    expect(files.length).toBeGreaterThan(6); // more than the reader keeps dictionaries of (4)
    for (const f of files) {
      const { records, lost } = decodeSegment(fs.readFileSync(path.join(dir, 'segments', f)));
      expect(lost).toEqual([]);
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) expect(fieldsOf(r)).toEqual({ ...entry(r.seq), seq: r.seq });
    }
    const k = journal(dir);
    expect(await k.open()).toMatchObject({ records: 600, damaged: 0 });
    // Reopened: only the active segment's dictionary is in memory; the others load from their defining blocks, twice over.
    for (let round = 0; round < 2; round++) {
      const got: JournalRecord[] = [];
      for (let seq = 0; seq < 600;) {
        const part = await k.read(seq, 37);
        got.push(...part);
        seq = part[part.length - 1]!.seq + 1;
      }
      expect(got.map(fieldsOf)).toEqual(Array.from({ length: 600 }, (_, i) => ({ ...entry(i), seq: i })));
    }
  });

  it('a damaged block that defined entries loses only its own records: the next block states them again', async () => {
    const dir = tmp();
    const j = journal(dir);
    await j.open();
    const offsets: number[] = [];
    // One record per block; entry(i)'s topic is new for i < 15, its source id new for i < 2.
    for (let i = 0; i < 20; i++) {
      offsets.push(j.stats().bytes);
      j.append(entry(i));
    }
    await j.close();
    const file = path.join(dir, 'segments', segmentFileName(0));
    const buf = fs.readFileSync(file);
    buf[offsets[0]! + 20]! ^= 0xff; // defined 'mqtt-a' and topic 0
    buf[offsets[3]! + 20]! ^= 0xff; // defined topic 3 (used again by entry 18)
    fs.writeFileSync(file, buf);
    const counters = new Counters();
    const k = journal(dir, { counters });
    expect(await k.open()).toMatchObject({ records: 18, damaged: 2, headSeq: 20 });
    const got = await k.read(0, 100);
    expect(got.map((r) => r.seq)).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    for (const r of got) expect(fieldsOf(r)).toEqual({ ...entry(r.seq), seq: r.seq });
    expect(counters.get('journal_damaged_reads') ?? 0).toBe(0);
  });

  it('entries defined by a write that failed are defined again by the next one', async () => {
    const dir = tmp();
    const j = journal(dir);
    await j.open();
    j.append(entry(0));
    const novel: JournalEntry = { ...entry(1), topic: 'only/in/the/failed/write' };
    j.stage(novel);
    const log = (j as unknown as { log: { fd: number } }).log;
    const fd = log.fd;
    log.fd = -1; // the write(2) fails, as on a vanished descriptor
    expect(() => j.flush()).toThrow();
    j.stage(entry(0)); // and the next one too (whatever the failed block would have stated again is gone with it)
    expect(() => j.flush()).toThrow();
    log.fd = fd;
    expect(j.stage(novel)).toBe(1);
    expect(j.flush()).toBe('ok');
    await j.close();
    const k = journal(dir);
    expect(await k.open()).toMatchObject({ records: 2, damaged: 0 });
    expect((await k.read(0, 10)).map(fieldsOf)).toEqual([
      { ...entry(0), seq: 0 },
      { ...novel, seq: 1 },
    ]);
  });

  it('takes less than 0.8 × topic + payload per record for readings of many devices', async () => {
    const dir = tmp();
    const j = journal(dir);
    await j.open();
    let plain = 0;
    const n = 20_000; // 20 readings per device: the first defines its topic
    for (let i = 0; i < n; i++) {
      const e: JournalEntry = {
        sourceId: 'mqtt-1',
        topic: `sensors/dev-${String(i % 1000).padStart(4, '0')}/climate`,
        payload: Buffer.from(
          `{"temperature":${(20 + (i % 97) / 10).toFixed(2)},"humidity":${(40 + (i % 37) / 10).toFixed(1)},"seq":${i},"ts":${1765000000000 + i}}`,
        ),
        receivedAt: 1_765_000_000_000_000_000n + BigInt(i) * 500_000n,
      };
      plain += e.topic.length + e.payload.length;
      j.stage(e);
      if (i % 2 === 1) j.flush(); // two records per write(2), as QoS 1 at 2k/s gives
    }
    j.flush();
    // Format 1 took 32 bytes + source id + topic + payload (1.42× here); blocks of two records
    // with the payloads as they are 0.96×; coded against each device's first reading ≈ 0.5×.
    expect(j.stats().bytes / n).toBeLessThan((0.8 * plain) / n);
  });
});

describe('upgrade from format 1', () => {
  /** A segment as earlier releases wrote it: one frame per record (the format-1 encoder, kept for this). */
  function writeFormat1(dir: string, from: number, to: number): void {
    fs.mkdirSync(path.join(dir, 'segments'), { recursive: true });
    const parts: Buffer[] = [];
    for (let i = from; i < to; i++) {
      const buf = Buffer.alloc(maxFrameBytes(entry(i)));
      parts.push(buf.subarray(0, encodeFrame(buf, i, entry(i))));
    }
    fs.writeFileSync(path.join(dir, 'segments', segmentFileName(from)), Buffer.concat(parts));
  }

  it('reads a format-1 spool, appends blocks after it, and drains and deletes it', async () => {
    const dir = tmp();
    writeFormat1(dir, 0, 40);
    writeFormat1(dir, 40, 70); // the active segment at the upgrade: blocks are appended to it
    const j = journal(dir, { segmentBytes: 64 * 1024 });
    expect(await j.open()).toEqual({ records: 70, damaged: 0, truncatedBytes: 0, headSeq: 70, oldestSeq: 0 });
    j.addConsumer('out');
    for (let i = 70; i < 90; i++) j.stage(entry(i));
    j.flush();
    await j.close();
    const k = journal(dir, { segmentBytes: 64 * 1024 });
    expect(await k.open()).toMatchObject({ records: 90, damaged: 0, headSeq: 90 });
    k.addConsumer('out');
    const got: JournalRecord[] = [];
    for (let seq = 0; seq < 90;) {
      const part = await k.read(seq, 13);
      got.push(...part);
      seq = part[part.length - 1]!.seq + 1;
      k.commit('out', seq);
    }
    expect(got.map(fieldsOf)).toEqual(Array.from({ length: 90 }, (_, i) => ({ ...entry(i), seq: i })));
    expect(got[5]!.payload.toString()).toBe(payloadOf(5));
    expect(k.stats()).toMatchObject({ segments: 1, oldestSeq: 40 }); // the drained format-1 segment is deleted
  });

  it('cuts a torn format-1 tail as before', async () => {
    const dir = tmp();
    writeFormat1(dir, 0, 10);
    const file = path.join(dir, 'segments', segmentFileName(0));
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7);
    const j = journal(dir);
    expect(await j.open()).toMatchObject({ records: 9, damaged: 1, headSeq: 9 });
    expect((await j.read(0, 20)).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
