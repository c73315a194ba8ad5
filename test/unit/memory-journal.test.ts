import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/observe/counters.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { MemoryJournal, RECORD_OVERHEAD } from '../../src/journal/memory-journal.js';

/** An entry whose counted size is exactly `size` bytes (payload + topic "t" + source "s" + overhead). */
function entry(i: number, size = 400): JournalEntry {
  const payloadBytes = size - 2 - RECORD_OVERHEAD;
  const payload = Buffer.alloc(payloadBytes, 0x20);
  payload.write(String(i));
  return { sourceId: 's', topic: 't', payload, receivedAt: BigInt(i) * 1000n };
}

const ids = (records: { seq: number }[]): number[] => records.map((r) => r.seq);

async function opened(maxBytes = 4000, policy: 'drop-oldest' | 'block' = 'drop-oldest', counters?: Counters): Promise<MemoryJournal> {
  const j = new MemoryJournal({ maxBytes, policy, counters });
  expect(await j.open()).toEqual({ records: 0, damaged: 0, truncatedBytes: 0, headSeq: 0, oldestSeq: 0 });
  return j;
}

describe('MemoryJournal', () => {
  it('appends with seqs from 0, reads back what was appended (a copy of the payload), in order', async () => {
    const j = await opened(40_000);
    const payload = Buffer.from('{"t":1}');
    expect(j.append({ sourceId: 'broker', topic: 'a/b', payload, receivedAt: 42n })).toBe(0);
    expect(j.append(entry(1))).toBe(1);
    payload.write('X');
    const [r0, r1] = await j.read(0, 10);
    expect(r0).toEqual({ seq: 0, sourceId: 'broker', topic: 'a/b', payload: Buffer.from('{"t":1}'), receivedAt: 42n });
    expect(r1?.seq).toBe(1);
    expect(ids(await j.read(1, 10))).toEqual([1]);
    expect(await j.read(2, 10)).toEqual([]);
    expect(ids(await j.read(0, 1))).toEqual([0]);
    expect(j.stats()).toMatchObject({ headSeq: 2, oldestSeq: 0, dropped: 0 });
  });

  it('a new consumer starts at the oldest record; commits free what every consumer passed', async () => {
    const j = await opened(40_000);
    for (let i = 0; i < 5; i++) j.append(entry(i));
    j.addConsumer('a');
    j.addConsumer('b');
    expect(j.cursor('a')).toBe(0);
    j.commit('a', 3);
    expect(j.stats()).toMatchObject({ oldestSeq: 0, bytes: 2000 });
    j.commit('b', 2);
    expect(j.stats()).toMatchObject({ oldestSeq: 2, bytes: 1200 });
    expect(ids(await j.read(0, 10))).toEqual([2, 3, 4]); // reading a freed seq starts at the oldest
    j.commit('a', 1); // backwards: ignored
    expect(j.cursor('a')).toBe(3);
    j.removeConsumer('b');
    expect(j.stats().oldestSeq).toBe(3);
    j.addConsumer('c');
    expect(j.cursor('c')).toBe(3);
    expect(() => j.commit('a', 6)).toThrow(/beyond the head/);
    expect(() => j.cursor('zz')).toThrow(/unknown consumer/);
  });

  it('keeps records while no consumer is registered', async () => {
    const j = await opened(40_000);
    for (let i = 0; i < 3; i++) j.append(entry(i));
    expect(j.stats().oldestSeq).toBe(0);
    j.addConsumer('late');
    expect(ids(await j.read(j.cursor('late'), 10))).toEqual([0, 1, 2]);
  });

  it('drop-oldest: at the quota the oldest records go, counted exactly, cursors move past them', async () => {
    const counters = new Counters();
    const j = await opened(4000, 'drop-oldest', counters);
    j.addConsumer('out');
    for (let i = 0; i < 10; i++) expect(j.append(entry(i))).toBe(i);
    expect(j.stats()).toMatchObject({ bytes: 4000, dropped: 0 });
    j.commit('out', 1);
    expect(j.append(entry(10))).toBe(10); // record 0 was consumed: freed, nothing dropped
    expect(j.append(entry(11))).toBe(11); // record 1 is not: dropped
    expect(j.append(entry(12, 1200))).toBe(12); // needs 3 slots: records 2..4 dropped... (see below)
    expect(j.stats()).toMatchObject({ oldestSeq: 5, headSeq: 13, dropped: 4, bytes: 4000 });
    expect(counters.get('journal_dropped_records', { consumer: 'out' })).toBe(4);
    expect(j.cursor('out')).toBe(5);
    const rest = await j.read(1, 100);
    expect(rest[0]?.seq).toBe(5); // the gap is visible to a reader
    expect(rest.map((r) => r.payload.toString().trim())).toEqual(['5', '6', '7', '8', '9', '10', '11', '12']);
  });

  it('block: refuses appends at the quota until a commit frees room', async () => {
    const j = await opened(2000, 'block');
    j.addConsumer('out');
    for (let i = 0; i < 5; i++) expect(j.append(entry(i))).toBe(i);
    expect(j.append(entry(5))).toBe('full');
    expect(j.append(entry(5))).toBe('full');
    expect(j.stats()).toMatchObject({ headSeq: 5, dropped: 0 });
    j.commit('out', 2);
    expect(j.append(entry(5))).toBe(5);
    expect(j.append(entry(6))).toBe(6);
    expect(j.append(entry(7))).toBe('full');
  });

  it('takes a record larger than the quota when it is alone (it cannot block forever)', async () => {
    const j = await opened(65_536, 'block');
    expect(j.append(entry(0, 100_000))).toBe(0);
    expect(j.append(entry(1))).toBe('full');
  });

  it('notifies listeners once per microtask turn, however many appends', async () => {
    const j = await opened(100_000);
    let calls = 0;
    const off = j.onAppend(() => calls++);
    for (let i = 0; i < 10; i++) j.append(entry(i));
    expect(calls).toBe(0);
    await Promise.resolve();
    expect(calls).toBe(1);
    j.append(entry(10));
    await Promise.resolve();
    expect(calls).toBe(2);
    off();
    j.append(entry(11));
    await Promise.resolve();
    expect(calls).toBe(2);
  });

  it('stays bounded: 200,000 appends through a 64 KiB ring hold at most the quota', async () => {
    const j = await opened(65_536);
    j.addConsumer('slow');
    let maxBytes = 0;
    for (let i = 0; i < 200_000; i++) {
      j.append(entry(i, 480));
      if ((i & 1023) === 0) maxBytes = Math.max(maxBytes, j.stats().bytes);
    }
    const st = j.stats();
    expect(maxBytes).toBeLessThanOrEqual(65_536);
    expect(st.headSeq - st.oldestSeq).toBe(Math.floor(65_536 / 480));
    expect(st.dropped).toBe(200_000 - (st.headSeq - st.oldestSeq));
  });

  it('refuses use before open and after close', async () => {
    const j = new MemoryJournal({ maxBytes: 4000, policy: 'block' });
    expect(() => j.append(entry(0))).toThrow(/new/);
    await j.open();
    await expect(j.open()).rejects.toThrow();
    await j.close();
    expect(() => j.append(entry(0))).toThrow(/closed/);
    await expect(j.read(0, 1)).rejects.toThrow(/closed/);
  });
});
