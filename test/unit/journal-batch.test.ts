import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileJournal } from '../../src/journal/file-journal.js';
import { RecentTail } from '../../src/journal/recent-tail.js';
import { SegmentDict } from '../../src/journal/segment-dict.js';
import { WriteBatch } from '../../src/journal/write-batch.js';
import { silentLogger } from '../../src/observe/logger.js';
import { entry, fieldsOf, payloadOf } from '../fixtures/journal-entries.js';

const dirs: string[] = [];
const open: FileJournal[] = [];

afterEach(async () => {
  for (const j of open.splice(0)) await j.close();
  for (const d of dirs.splice(0)) await fs.promises.rm(d, { recursive: true, force: true });
});

function journal(dir?: string): { j: FileJournal; dir: string } {
  const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-jb-'));
  if (dir === undefined) dirs.push(d);
  const j = new FileJournal({ dir: d, maxBytes: 1024 ** 3, policy: 'drop-oldest', sync: 50, logger: silentLogger() });
  open.push(j);
  return { j, dir: d };
}

function segmentBytes(dir: string): number {
  const segs = path.join(dir, 'segments');
  return fs.readdirSync(segs).reduce((n, f) => n + fs.statSync(path.join(segs, f)).size, 0);
}

const payloads = (recs: { payload: Buffer }[]): string[] => recs.map((r) => r.payload.toString());

describe('FileJournal stage/flush', () => {
  it('staged records get their seqs at once but are neither on disk nor readable before flush', async () => {
    const { j, dir } = journal();
    await j.open();
    expect([j.stage(entry(0)), j.stage(entry(1)), j.stage(entry(2))]).toEqual([0, 1, 2]);
    expect(j.stagedBytes).toBeGreaterThan(0);
    expect(segmentBytes(dir)).toBe(0);
    expect(await j.read(0, 10)).toEqual([]);
    expect(j.stats().headSeq).toBe(0);
    expect(j.flush()).toBe('ok');
    expect(j.stagedBytes).toBe(0);
    expect(segmentBytes(dir)).toBe(j.stats().bytes);
    expect(payloads(await j.read(0, 10))).toEqual([0, 1, 2].map(payloadOf));
    expect(j.append(entry(3))).toBe(3); // append = stage + flush
    expect(payloads(await j.read(3, 10))).toEqual([payloadOf(3)]);
  });

  it('what was flushed survives a reopen, read back from the files with checksums', async () => {
    const { j, dir } = journal();
    await j.open();
    for (let i = 0; i < 50; i++) j.stage(entry(i));
    j.flush();
    await j.close();
    const again = journal(dir).j;
    const report = await again.open();
    expect(report).toMatchObject({ records: 50, damaged: 0, headSeq: 50 });
    expect(payloads(await again.read(0, 100))).toEqual(Array.from({ length: 50 }, (_, i) => payloadOf(i)));
  });

  it('a flush that fails forgets the staged records and gives their seqs again', async () => {
    const { j } = journal();
    await j.open();
    j.append(entry(0));
    j.stage(entry(1));
    j.stage(entry(2));
    // Make the next write(2) fail as a full disk does: close the descriptor under it.
    const log = (j as unknown as { log: { fd: number } }).log;
    const fd = log.fd;
    log.fd = -1;
    expect(() => j.flush()).toThrow();
    log.fd = fd;
    expect(j.stagedBytes).toBe(0);
    expect(j.stats().headSeq).toBe(1);
    expect(j.stage(entry(5))).toBe(1);
    expect(j.flush()).toBe('ok');
    expect(payloads(await j.read(0, 10))).toEqual([payloadOf(0), payloadOf(5)]);
  });

  it('reads far behind the head come from the files, reads at the head from memory, both the same', async () => {
    const { j } = journal();
    await j.open();
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 1000; i++) j.stage(entry(round * 1000 + i));
      j.flush();
    }
    const old = await j.read(10, 5); // 40,000 records of ~150 bytes: seq 10 left the 2 MiB tail long ago
    const recent = await j.read(39_990, 5);
    expect(payloads(old)).toEqual([10, 11, 12, 13, 14].map(payloadOf));
    expect(payloads(recent)).toEqual([39_990, 39_991, 39_992, 39_993, 39_994].map(payloadOf));
    expect(recent.map((r) => r.seq)).toEqual([39_990, 39_991, 39_992, 39_993, 39_994]);
    expect(fieldsOf(recent[0])).toEqual({ ...entry(39_990), seq: 39_990 });
  });
});

describe('RecentTail', () => {
  const dict = new SegmentDict();
  /** The batch of entries `first` … `first + n - 1`, encoded as the journal does; `len`: what the tail charges for it. */
  function frames(first: number, n: number): { batch: WriteBatch; len: number } {
    const batch = new WriteBatch();
    for (let i = 0; i < n; i++) batch.add(entry(first + i), 0);
    batch.encode(first, dict);
    return { batch, len: batch.entries.reduce((sum, e) => sum + e.payload.length + 24, 0) };
  }
  const add = (t: RecentTail, first: number, f: { batch: WriteBatch }): void => t.add(first, f.batch, dict.strings);

  it('answers only for seqs it holds, across chunks, never past its end', () => {
    const t = new RecentTail();
    expect(t.read(0, 5)).toBeUndefined();
    const a = frames(10, 3);
    const b = frames(13, 2);
    add(t, 10, a);
    add(t, 13, b);
    expect(t.read(9, 5)).toBeUndefined();
    expect(t.read(15, 5)).toBeUndefined();
    expect(t.read(11, 10)?.map((r) => r.seq)).toEqual([11, 12, 13, 14]);
    expect(t.read(12, 2)?.map((r) => r.seq)).toEqual([12, 13]);
    expect(fieldsOf(t.read(14, 2)?.[0])).toEqual({ ...entry(14), seq: 14 });
  });

  it('keeps at most its byte budget (the newest chunk always), oldest chunks leaving first', () => {
    const one = frames(0, 1);
    const t = new RecentTail(one.len * 3);
    for (let s = 0; s < 10; s++) {
      const f = frames(s, 1);
      add(t, s, f);
    }
    expect(t.firstSeq).toBeGreaterThanOrEqual(6);
    expect(t.read(5, 1)).toBeUndefined();
    expect(t.read(9, 1)?.map((r) => r.seq)).toEqual([9]);
    const big = frames(10, 8);
    add(t, 10, big);
    expect(t.firstSeq).toBe(10);
  });

  it('copies what it keeps: records read back intact across block boundaries and from batches larger than a block share', () => {
    const t = new RecentTail(8 * 1024 * 1024);
    let seq = 0;
    for (const n of [1, 3, 250, 7, 2, 400, 1, 900, 5]) {
      // 250+ frames of ~100 B overflow a 256 KiB block's quarter
      for (let k = 0; k < 3; k++) {
        const f = frames(seq, n);
        add(t, seq, f);
        for (const e of f.batch.entries) e.payload.fill(0); // the caller reuses its buffers
        seq += n;
      }
    }
    const all = t.read(0, seq);
    expect(all).toHaveLength(seq);
    all!.forEach((r, i) => expect(fieldsOf(r)).toEqual({ ...entry(i), seq: i }));
  });

  it('evicts record by record inside a shared block: a read below the oldest kept seq is not answered, one at it is', () => {
    const one = frames(0, 1);
    const t = new RecentTail(one.len * 5 + 10);
    for (let s = 0; s < 40; s++) {
      const f = frames(s, 1);
      add(t, s, f);
    }
    const oldest = t.firstSeq!;
    // ~5 frames fit the budget (frames of later seqs are a little longer): a few kept, not the block.
    expect(oldest).toBeGreaterThanOrEqual(34);
    expect(oldest).toBeLessThanOrEqual(37);
    expect(t.read(oldest - 1, 1)).toBeUndefined();
    expect(t.read(oldest, 100)?.map((r) => r.seq)).toEqual(Array.from({ length: 40 - oldest }, (_, i) => oldest + i));
  });

  it('a batch that does not follow the last seq starts the tail over (never answers for seqs it did not see)', () => {
    const t = new RecentTail();
    const a = frames(0, 3);
    add(t, 0, a);
    const b = frames(7, 2);
    add(t, 7, b);
    expect(t.firstSeq).toBe(7);
    expect(t.read(2, 5)).toBeUndefined();
    expect(t.read(7, 5)?.map((r) => r.seq)).toEqual([7, 8]);
    expect(fieldsOf(t.read(8, 1)?.[0])).toEqual({ ...entry(8), seq: 8 });
  });
});
