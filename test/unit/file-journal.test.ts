import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConsumerCursors } from '../../src/journal/consumer-cursors.js';
import { crc32c } from '../../src/journal/crc32c.js';
import { CursorStore } from '../../src/journal/cursor-store.js';
import { FileJournal } from '../../src/journal/file-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { fileJournals } from '../helpers/file-journals.js';
import { runAndKill, runUntil } from '../fixtures/journal-child.js';
import { entry, payloadOf } from '../fixtures/journal-entries.js';

const { tmp, journal } = fileJournals('edgeflux-fj-');

/** Appends entry(0..n-1) and closes; returns the byte offset of each record (one segment). */
async function writeRecords(dir: string, n: number): Promise<number[]> {
  const j = journal(dir);
  await j.open();
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) {
    offsets.push(j.stats().bytes);
    j.append(entry(i));
  }
  offsets.push(j.stats().bytes);
  await j.close();
  return offsets;
}

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'segments')).sort();
}

function onlySegment(dir: string): string {
  const files = segmentFiles(dir);
  expect(files).toHaveLength(1);
  return path.join(dir, 'segments', files[0]!);
}

async function seqsAndCheck(j: FileJournal): Promise<number[]> {
  const recs = await j.read(0, 1_000_000);
  for (const r of recs) {
    expect(r.payload.toString()).toBe(payloadOf(r.seq));
    expect(r.receivedAt).toBe(entry(r.seq).receivedAt);
    expect(r.topic).toBe(entry(r.seq).topic);
  }
  return recs.map((r) => r.seq);
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe('crc32c', () => {
  it('matches the standard check value and chains over ranges', () => {
    const b = Buffer.from('123456789');
    expect(crc32c(b)).toBe(0xe3069283);
    expect(crc32c(b, 5, 9, crc32c(b, 0, 5))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });
});

describe('FileJournal recovery', () => {
  it('cuts a torn tail, counts it, and continues with the right seq', async () => {
    const dir = tmp();
    const offsets = await writeRecords(dir, 10);
    const file = onlySegment(dir);
    fs.truncateSync(file, offsets[9]! + 20); // the last record, cut 20 bytes in
    const counters = new Counters();
    const j = journal(dir, { counters });
    const report = await j.open();
    expect(report).toEqual({ records: 9, damaged: 1, truncatedBytes: 20, headSeq: 9, oldestSeq: 0 });
    expect(counters.get('journal_damaged_records')).toBe(1);
    expect(fs.statSync(file).size).toBe(offsets[9]);
    expect(await seqsAndCheck(j)).toEqual(range(0, 9));
    expect(j.append(entry(9))).toBe(9);
    expect(j.append(entry(10))).toBe(10);
    await j.close();
    const k = journal(dir);
    expect(await k.open()).toMatchObject({ records: 11, damaged: 0, truncatedBytes: 0, headSeq: 11 });
    expect(await seqsAndCheck(k)).toEqual(range(0, 11));
  });

  it.each([
    ['magic', 0],
    ['length', 5],
    ['checksum', 9],
    ['seq', 13],
    ['receivedAt', 22],
    ['topic', 40],
    ['payload', 90],
  ])('skips exactly the record whose %s bytes were flipped, keeps the rest', async (_what, at) => {
    const dir = tmp();
    const offsets = await writeRecords(dir, 10);
    const file = onlySegment(dir);
    const buf = fs.readFileSync(file);
    buf[offsets[4]! + at]! ^= 0xff;
    buf[offsets[4]! + at + 1]! ^= 0x5a;
    fs.writeFileSync(file, buf);
    const counters = new Counters();
    const j = journal(dir, { counters });
    expect(await j.open()).toEqual({ records: 9, damaged: 1, truncatedBytes: 0, headSeq: 10, oldestSeq: 0 });
    expect(counters.get('journal_damaged_records')).toBe(1);
    expect(await seqsAndCheck(j)).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
    expect((await j.read(4, 1)).map((r) => r.seq)).toEqual([5]);
    expect((await j.read(3, 2)).map((r) => r.seq)).toEqual([3, 5]);
    expect(j.append(entry(10))).toBe(10);
  });

  it("counts two adjacent damaged records as two, and damage in a segment's first record", async () => {
    const dir = tmp();
    const offsets = await writeRecords(dir, 10);
    const file = onlySegment(dir);
    const buf = fs.readFileSync(file);
    buf[offsets[0]! + 50]! ^= 1;
    buf[offsets[5]! + 50]! ^= 1;
    buf[offsets[6]! + 50]! ^= 1;
    fs.writeFileSync(file, buf);
    const j = journal(dir);
    expect(await j.open()).toMatchObject({ records: 7, damaged: 3, truncatedBytes: 0, headSeq: 10 });
    expect(await seqsAndCheck(j)).toEqual([1, 2, 3, 4, 7, 8, 9]);
  });

  it.each([
    ['text', Buffer.from('this is not a journal record\n')],
    ['zeros', Buffer.alloc(4096)],
    ['a fake magic', Buffer.from([0xef, 0x01, 0, 0, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5])],
  ])('cuts garbage appended after the last record (%s)', async (_what, garbage) => {
    const dir = tmp();
    await writeRecords(dir, 10);
    const file = onlySegment(dir);
    fs.appendFileSync(file, garbage);
    const j = journal(dir);
    const report = await j.open();
    // Bytes that are no record are cut, and counted as one damaged record: they may have been one.
    expect(report).toEqual({ records: 10, damaged: 1, truncatedBytes: garbage.length, headSeq: 10, oldestSeq: 0 });
    expect(await seqsAndCheck(j)).toEqual(range(0, 10));
    expect(j.append(entry(10))).toBe(10);
    expect(await seqsAndCheck(j)).toEqual(range(0, 11));
  });

  it('reads past damage that appears on disk after open, and reports it', async () => {
    const dir = tmp();
    const offsets = await writeRecords(dir, 10);
    const counters = new Counters();
    const j = journal(dir, { counters });
    await j.open();
    const file = onlySegment(dir);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0x00, 0x00]), 0, 2, offsets[6]! + 60);
    fs.closeSync(fd);
    expect(await seqsAndCheck(j)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9]);
    expect(counters.get('journal_damaged_reads')).toBe(1);
  });
});

describe('FileJournal segments and cursors', () => {
  it('rotates by size and deletes a segment only when every consumer has passed it', async () => {
    const dir = tmp();
    const j = journal(dir, { segmentBytes: 4096 });
    await j.open();
    for (let i = 0; i < 300; i++) j.append(entry(i));
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(5);
    expect(j.stats().segments).toBe(files.length);
    expect(files[0]).toBe('00000000000000000000.seg');
    expect(fs.statSync(path.join(dir, 'segments', files[1]!)).size).toBeLessThan(4096 + 200);
    expect(await seqsAndCheck(j)).toEqual(range(0, 300));
    j.addConsumer('a');
    j.addConsumer('b');
    j.commit('a', 300);
    expect(segmentFiles(dir)).toEqual(files);
    j.commit('b', 150);
    const left = segmentFiles(dir);
    expect(left.length).toBeLessThan(files.length);
    expect(Number(left[0]!.slice(0, 20))).toBeLessThanOrEqual(150);
    expect(j.stats().oldestSeq).toBe(Number(left[0]!.slice(0, 20)));
    expect((await j.read(150, 1000)).map((r) => r.seq)).toEqual(range(150, 300));
    j.commit('b', 300);
    expect(segmentFiles(dir)).toHaveLength(1); // the active segment stays
    expect(j.stats().bytes).toBe(fs.statSync(path.join(dir, 'segments', segmentFiles(dir)[0]!)).size);
    expect(j.append(entry(300))).toBe(300);
    await j.close();
    const k = journal(dir, { segmentBytes: 4096 });
    expect(await k.open()).toMatchObject({ damaged: 0, headSeq: 301 });
    k.addConsumer('a');
    k.addConsumer('b');
    expect([k.cursor('a'), k.cursor('b')]).toEqual([300, 300]);
    expect((await k.read(k.cursor('b'), 10)).map((r) => r.seq)).toEqual([300]);
    // The active segment is kept whole: what it held before the cursors is still readable.
    expect((await k.read(0, 1000)).map((r) => r.seq).at(-1)).toBe(300);
  });

  it('keeps every segment while no consumer is registered, and a removed consumer stops holding them', async () => {
    const dir = tmp();
    const j = journal(dir, { segmentBytes: 4096 });
    await j.open();
    for (let i = 0; i < 200; i++) j.append(entry(i));
    const n = segmentFiles(dir).length;
    j.addConsumer('done');
    j.addConsumer('gone');
    j.commit('done', 200);
    expect(segmentFiles(dir)).toHaveLength(n);
    j.removeConsumer('gone');
    expect(segmentFiles(dir)).toHaveLength(1);
  });

  it('drop-oldest counts per consumer what each had not read, and moves its cursor past the gap', async () => {
    const dir = tmp();
    const counters = new Counters();
    const j = journal(dir, { maxBytes: 32 * 1024, counters });
    await j.open();
    j.addConsumer('slow');
    j.addConsumer('half');
    for (let i = 0; i < 100; i++) j.append(entry(i));
    j.commit('half', 60);
    for (let i = 100; i < 1000; i++) j.append(entry(i));
    const s = j.stats();
    expect(counters.get('journal_dropped_records', { consumer: 'slow' })).toBe(s.oldestSeq);
    expect(counters.get('journal_dropped_records', { consumer: 'half' })).toBe(s.oldestSeq - 60);
    expect(s.dropped).toBe(s.oldestSeq);
    expect(j.cursor('slow')).toBe(s.oldestSeq);
  });

  it('survives reopen with a cursor saved by the flush interval alone (kill -9, no close)', async () => {
    const dir = tmp();
    await runUntil(dir, '10', 'cursor', 'ready');
    const j = journal(dir);
    expect(await j.open()).toMatchObject({ records: 10, damaged: 0, headSeq: 10 });
    j.addConsumer('out');
    expect(j.cursor('out')).toBe(10);
  });

  it('never saves a cursor beyond what was fsynced', async () => {
    const dir = tmp();
    await runUntil(dir, '600000', 'cursor', 'ready');
    const j = journal(dir);
    expect(await j.open()).toMatchObject({ records: 10, headSeq: 10 });
    j.addConsumer('out');
    expect(j.cursor('out')).toBe(0);
  });

  it("saves a consumer's state with its cursor and gives it back after a reopen", async () => {
    const dir = tmp();
    const j = journal(dir, { sync: 'always' });
    await j.open();
    for (let i = 0; i < 10; i++) j.append(entry(i));
    j.addConsumer('out');
    let state = 'as of 0';
    j.setStateSource('out', () => state);
    j.commit('out', 7);
    state = 'as of 7';
    await j.close();
    const k = journal(dir);
    await k.open();
    k.addConsumer('out');
    expect(k.cursor('out')).toBe(7);
    expect(k.savedState('out')).toBe('as of 7');
  });

  it('a cursor beyond the fsynced data is saved neither alone nor with a state: the pair saved before stands', async () => {
    const dir = tmp();
    let synced = 10;
    const cursors = new ConsumerCursors(new CursorStore(dir), 60_000, silentLogger(), () => synced);
    await cursors.load();
    cursors.add('out', 0, 20);
    let state = 'as of 7';
    cursors.setStateSource('out', () => state);
    cursors.advance('out', 7);
    synced = 20;
    await cursors.close(); // saves (7, 'as of 7')
    const again = new ConsumerCursors(new CursorStore(dir), 60_000, silentLogger(), () => synced);
    await again.load();
    again.add('out', 0, 20);
    expect([again.get('out'), again.state('out')]).toEqual([7, 'as of 7']);
    again.setStateSource('out', () => state);
    again.advance('out', 15);
    state = 'as of 15';
    synced = 12; // the data up to 15 is not fsynced (a power loss would take it)
    await again.close();
    const third = new ConsumerCursors(new CursorStore(dir), 60_000, silentLogger(), () => synced);
    await third.load();
    third.add('out', 0, 20);
    expect([third.get('out'), third.state('out')]).toEqual([7, 'as of 7']);
    await third.close();
  });

  it('savedCursor is what the store holds (loaded, then each save), never a commit not saved yet', async () => {
    const dir = tmp();
    let synced = 10;
    const cursors = new ConsumerCursors(new CursorStore(dir), 60_000, silentLogger(), () => synced);
    await cursors.load();
    cursors.add('out', 0, 20);
    cursors.add('plain', 0, 20);
    expect(cursors.savedCursor('out')).toBeUndefined(); // nothing stored yet
    cursors.setStateSource('out', () => 'a state');
    cursors.advance('out', 7);
    cursors.advance('plain', 15);
    expect([cursors.savedCursor('out'), cursors.savedCursor('plain')]).toEqual([undefined, undefined]); // committed, not saved
    await cursors.close();
    // 'plain' is saved up to the fsynced data only; 'out' with its state.
    expect([cursors.savedCursor('out'), cursors.savedCursor('plain')]).toEqual([7, 10]);

    const again = new ConsumerCursors(new CursorStore(dir), 60_000, silentLogger(), () => synced);
    await again.load();
    again.add('out', 0, 20);
    expect(again.savedCursor('out')).toBe(7); // as loaded
    again.setStateSource('out', () => 'a state');
    again.advance('out', 15);
    synced = 12; // a cursor with a state beyond the fsynced data is not saved: the pair before stands
    await again.close();
    expect(again.savedCursor('out')).toBe(7);
  });

  it('refuses a second process on the same directory', async () => {
    const dir = tmp();
    const j = journal(dir);
    await j.open();
    const k = new FileJournal({ dir, maxBytes: 1e9, policy: 'block', sync: 50, logger: silentLogger() });
    await expect(k.open()).rejects.toThrow();
    expect(j.append(entry(0))).toBe(0);
  });
});

describe('FileJournal reads', () => {
  it('a read racing the deletion of older segments never skips a segment', async () => {
    // Regression: the reader kept a segment index across its await; a commit that deleted
    // older segments meanwhile shifted the list, and a whole segment was silently skipped.
    for (let round = 0; round < 6; round++) {
      const dir = tmp();
      const j = journal(dir, { segmentBytes: 16 * 1024 });
      await j.open();
      j.addConsumer('a');
      for (let i = 0; i < 2000; i++) j.append(entry(i));
      const files = segmentFiles(dir).map((f) => Number(f.replace(/\.seg$/, '')));
      expect(files.length).toBeGreaterThan(4);
      let from = files[round % 2]!;
      const seen: number[] = [];
      while (from < j.stats().headSeq) {
        const pending = j.read(from, 300);
        // Meanwhile the consumer passes two more segments, which deletes them.
        const later = files.find((f) => f > from + 400);
        if (later !== undefined) j.commit('a', Math.min(later, from + 1));
        const recs = await pending;
        if (recs.length === 0) break;
        // Records may start later than asked (deleted under the read), never with a hole.
        recs.forEach((r, k) => expect(r.seq).toBe(recs[0]!.seq + k));
        seen.push(...recs.map((r) => r.seq));
        from = recs[recs.length - 1]!.seq + 1;
      }
      expect(seen[seen.length - 1]).toBe(1999);
      const gaps = seen.slice(1).filter((q, k) => q !== seen[k]! + 1);
      expect(gaps).toEqual([]);
      await j.close();
    }
  });

  it('clamps a commit beyond the head to the head and refuses unknown consumers', async () => {
    const j = journal(tmp());
    await j.open();
    for (let i = 0; i < 5; i++) j.append(entry(i));
    j.addConsumer('out');
    j.commit('out', 1000);
    expect(j.cursor('out')).toBe(5);
    expect(() => j.commit('nobody', 1)).toThrow(/unknown consumer/);
    expect(() => j.commit('out', Number.NaN)).toThrow(RangeError);
  });

  it('counts appends refused at the quota under block', async () => {
    const counters = new Counters();
    const j = journal(tmp(), { maxBytes: 16 * 1024, policy: 'block', counters });
    await j.open();
    j.addConsumer('out');
    let refused = 0;
    for (let i = 0; i < 500; i++) if (j.append(entry(j.stats().headSeq)) === 'full') refused++;
    expect(refused).toBeGreaterThan(0);
    expect(counters.get('journal_refused_appends', { reason: 'quota' })).toBe(refused);
    expect(j.stats().dropped).toBe(0);
  });

  it('closes cleanly when close() comes while open() is still running', async () => {
    const dir = tmp();
    await writeRecords(dir, 3);
    const j = journal(dir);
    const opening = j.open();
    await j.close();
    await expect(opening).resolves.toMatchObject({ records: 3 });
    expect(() => j.append(entry(3))).toThrow(/not open/);
    const k = journal(dir); // the directory lock was released
    expect(await k.open()).toMatchObject({ records: 3, headSeq: 3 });
  });
});

describe('FileJournal under kill -9', () => {
  it('keeps every acknowledged record across 20 kills at random moments', async () => {
    const lanes = 4;
    const roundsPerLane = 5;
    const lane = async (): Promise<number> => {
      const dir = tmp();
      let verifiedTo = 0;
      let kills = 0;
      for (let round = 0; round < roundsPerLane; round++) {
        const acked = await runAndKill(dir, 5 + Math.random() * 40);
        kills++;
        const j = journal(dir, { segmentBytes: 64 * 1024 });
        const report = await j.open();
        expect(report.damaged).toBeLessThanOrEqual(1); // at most the record being written when killed
        expect(report.headSeq).toBeGreaterThan(acked);
        const recs = await j.read(verifiedTo, 1_000_000);
        expect(recs.map((r) => r.seq)).toEqual(range(verifiedTo, report.headSeq));
        for (const r of recs) expect(r.payload.toString()).toBe(payloadOf(r.seq));
        verifiedTo = report.headSeq;
        await j.close();
      }
      return kills;
    };
    const kills = await Promise.all(Array.from({ length: lanes }, lane));
    expect(kills.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(20);
  }, 60_000);
});
