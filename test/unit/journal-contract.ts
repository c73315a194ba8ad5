/**
 * The Journal contract (src/journal/journal.ts) as one suite that every implementation
 * runs: `journalContract('FileJournal', makeJournal, hooks)` registers its tests.
 * Not a test file itself; see journal-contract.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal, JournalEntry, JournalRecord } from '../../src/journal/journal.js';
import { entry, payloadOf } from '../fixtures/journal-entries.js';

export interface ContractJournalOptions {
  readonly maxBytes: number;
  readonly policy: 'drop-oldest' | 'block';
}

export interface ContractHooks {
  /** A new, unopened journal on the same storage as `closed` (already closed); only for journals that persist. */
  reopen?: (closed: Journal, opts: ContractJournalOptions) => Journal;
  /** Frees what the factory made (temp dirs); runs after each test, once its journals are closed. */
  cleanup?: () => Promise<void>;
}

/** `makeJournal` returns a new, unopened journal on fresh storage. */
export function journalContract(name: string, makeJournal: (opts: ContractJournalOptions) => Journal, hooks: ContractHooks = {}): void {
  describe(`Journal contract: ${name}`, () => {
    const made: Journal[] = [];
    const big: ContractJournalOptions = { maxBytes: 64 * 1024 * 1024, policy: 'drop-oldest' };

    async function open(opts: ContractJournalOptions = big): Promise<Journal> {
      const j = makeJournal(opts);
      made.push(j);
      await j.open();
      return j;
    }

    afterEach(async () => {
      for (const j of made.splice(0)) await j.close();
      await hooks.cleanup?.();
    });

    it('opens empty storage with nothing in it', async () => {
      const j = makeJournal(big);
      made.push(j);
      const report = await j.open();
      expect(report).toMatchObject({ records: 0, damaged: 0, truncatedBytes: 0, headSeq: 0, oldestSeq: 0 });
      expect(j.stats()).toMatchObject({ headSeq: 0, oldestSeq: 0, dropped: 0 });
      expect(await j.read(0, 10)).toEqual([]);
    });

    it('numbers records from 0, one by one', async () => {
      const j = await open();
      const seqs = Array.from({ length: 5 }, (_, i) => j.append(entry(i)));
      expect(seqs).toEqual([0, 1, 2, 3, 4]);
      expect(j.stats().headSeq).toBe(5);
    });

    it('reads back exactly what was appended: bytes, topic, source, arrival time', async () => {
      const j = await open();
      const es: JournalEntry[] = [
        { sourceId: 'broker', topic: 'sensors/kitchen/th1/climate', payload: Buffer.from('{"t":21.5}'), receivedAt: 1_700_000_000_123_456_789n },
        { sourceId: 'serial-1', topic: 'tty/ünïcødé/°C', payload: Buffer.from([0, 1, 0xff, 0xfe, 0x0a, 0xef]), receivedAt: 0n },
        { sourceId: '', topic: '', payload: Buffer.alloc(0), receivedAt: 9_007_199_254_740_993_000n },
        { sourceId: 'mqtt-a', topic: 'big', payload: Buffer.alloc(100_000, 7), receivedAt: 1n },
      ];
      for (const e of es) j.append(e);
      const got = await j.read(0, 10);
      expect(got.map(plain)).toEqual(es.map((e, seq) => plain({ ...e, seq })));
      expect(typeof got[0]!.receivedAt).toBe('bigint');
      expect((await j.read(1, 2)).map((r) => r.seq)).toEqual([1, 2]);
      expect((await j.read(3, 100)).map((r) => r.seq)).toEqual([3]);
    });

    it('reads nothing at or past the head, or for zero records', async () => {
      const j = await open();
      for (let i = 0; i < 3; i++) j.append(entry(i));
      expect(await j.read(3, 10)).toEqual([]);
      expect(await j.read(50, 10)).toEqual([]);
      expect(await j.read(0, 0)).toEqual([]);
    });

    it('drains a backlog oldest first, in order, without gaps', async () => {
      const j = await open();
      for (let i = 0; i < 3000; i++) j.append(entry(i));
      const seen: number[] = [];
      let from = 0;
      for (;;) {
        const batch = await j.read(from, 256);
        if (batch.length === 0) break;
        expect(batch.length).toBeLessThanOrEqual(256);
        for (const r of batch) {
          expect(r.payload.toString()).toBe(payloadOf(r.seq));
          seen.push(r.seq);
        }
        from = batch[batch.length - 1]!.seq + 1;
      }
      expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    });

    it('reads any range exactly, over records from empty to 3 MB', async () => {
      const j = await open();
      let seed = 42;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const sizes: number[] = [];
      for (let i = 0; i < 400; i++) {
        const r = rand(100);
        sizes.push(r < 80 ? rand(200) : r < 97 ? 1000 + rand(60_000) : 500_000 + rand(2_500_000));
      }
      const payload = (i: number): Buffer => Buffer.alloc(sizes[i]!, i % 251);
      for (let i = 0; i < sizes.length; i++) j.append({ sourceId: 's', topic: `t/${i}`, payload: payload(i), receivedAt: BigInt(i) });
      for (let k = 0; k < 60; k++) {
        const from = rand(sizes.length + 5);
        const max = 1 + rand(k % 3 === 0 ? 200 : 5);
        const got = await j.read(from, max);
        const want = Array.from({ length: Math.max(0, Math.min(sizes.length, from + max) - from) }, (_, n) => from + n);
        expect(got.map((r) => r.seq)).toEqual(want);
        for (const r of got) {
          expect(r.topic).toBe(`t/${r.seq}`);
          expect(r.payload.equals(payload(r.seq))).toBe(true);
        }
      }
    });

    it('tails the head: each notification finds the records just appended', async () => {
      const j = await open();
      let from = 0;
      const got: number[] = [];
      let wake: (() => void) | undefined;
      const off = j.onAppend(() => wake?.());
      for (let round = 0; round < 20; round++) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        for (let k = 0; k < 7; k++) j.append(entry(round * 7 + k));
        await woken;
        const batch = await j.read(from, 1000);
        got.push(...batch.map((r) => r.seq));
        from = got.length;
      }
      off();
      expect(got).toEqual(Array.from({ length: 140 }, (_, i) => i));
    });

    it('notifies listeners after appends, coalesced, until unsubscribed', async () => {
      const j = await open();
      let calls = 0;
      const off = j.onAppend(() => calls++);
      j.append(entry(0));
      j.append(entry(1));
      j.append(entry(2));
      await settle();
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(calls).toBeLessThanOrEqual(3);
      off();
      const before = calls;
      j.append(entry(3));
      await settle();
      expect(calls).toBe(before);
    });

    it('keeps one independent cursor per consumer, never moving backwards', async () => {
      const j = await open();
      for (let i = 0; i < 10; i++) j.append(entry(i));
      j.addConsumer('local');
      j.addConsumer('remote');
      expect(j.cursor('local')).toBe(0);
      expect(j.cursor('remote')).toBe(0);
      j.commit('local', 6);
      expect(j.cursor('local')).toBe(6);
      expect(j.cursor('remote')).toBe(0);
      j.commit('local', 3);
      expect(j.cursor('local')).toBe(6);
      j.addConsumer('local');
      expect(j.cursor('local')).toBe(6);
      j.commit('remote', 10);
      expect(j.cursor('remote')).toBe(10);
      expect(j.cursor('local')).toBe(6);
      // What one consumer committed is still there for the other.
      expect((await j.read(j.cursor('local'), 100)).map((r) => r.seq)).toEqual([6, 7, 8, 9]);
      j.removeConsumer('remote');
      expect(() => j.cursor('remote')).toThrow();
    });

    it('drop-oldest: never refuses, stays within the quota, counts every dropped record exactly', async () => {
      const quota: ContractJournalOptions = { maxBytes: 32 * 1024, policy: 'drop-oldest' };
      const j = await open(quota);
      j.addConsumer('slow');
      j.addConsumer('fast');
      for (let i = 0; i < 2000; i++) {
        expect(j.append(entry(i))).toBe(i);
        j.commit('fast', i + 1);
      }
      const s = j.stats();
      expect(s.bytes).toBeLessThanOrEqual(quota.maxBytes);
      expect(s.oldestSeq).toBeGreaterThan(0);
      // 'slow' read nothing: every record no longer stored was dropped, and counted once.
      expect(s.dropped).toBe(s.oldestSeq);
      const rest = await j.read(0, 5000);
      expect(rest[0]!.seq).toBe(s.oldestSeq);
      expect(rest.map((r) => r.seq)).toEqual(Array.from({ length: 2000 - s.oldestSeq }, (_, k) => s.oldestSeq + k));
      for (const r of rest) expect(r.payload.toString()).toBe(payloadOf(r.seq));
    });

    it('drop-oldest: records a consumer had already committed are not counted as dropped', async () => {
      const j = await open({ maxBytes: 32 * 1024, policy: 'drop-oldest' });
      j.addConsumer('only');
      for (let i = 0; i < 80; i++) j.append(entry(i)); // fits the quota: nothing dropped yet
      expect(j.stats().dropped).toBe(0);
      j.commit('only', 50);
      for (let i = 80; i < 2000; i++) j.append(entry(i));
      const s = j.stats();
      expect(s.oldestSeq).toBeGreaterThan(50);
      expect(s.dropped).toBe(s.oldestSeq - 50);
    });

    it('drop-oldest without consumers: still counts every dropped record', async () => {
      const j = await open({ maxBytes: 32 * 1024, policy: 'drop-oldest' });
      for (let i = 0; i < 2000; i++) j.append(entry(i));
      const s = j.stats();
      expect(s.oldestSeq).toBeGreaterThan(0);
      expect(s.dropped).toBe(s.oldestSeq);
    });

    it('block: refuses with "full" at the quota, loses nothing, accepts again once commits free space', async () => {
      const quota: ContractJournalOptions = { maxBytes: 32 * 1024, policy: 'block' };
      const j = await open(quota);
      j.addConsumer('out');
      let accepted = 0;
      let full = false;
      for (let i = 0; i < 10_000 && !full; i++) {
        const r = j.append(entry(i));
        if (r === 'full') full = true;
        else expect(r).toBe(accepted++);
      }
      expect(full).toBe(true);
      expect(j.append(entry(accepted))).toBe('full');
      const s = j.stats();
      expect(s).toMatchObject({ headSeq: accepted, oldestSeq: 0, dropped: 0 });
      expect(s.bytes).toBeLessThanOrEqual(quota.maxBytes);
      expect((await j.read(0, 100_000)).length).toBe(accepted);
      j.commit('out', accepted);
      expect(j.append(entry(accepted))).toBe(accepted);
      expect((await j.read(accepted, 10)).map((r) => r.payload.toString())).toEqual([payloadOf(accepted)]);
    });

    it('refuses use after close', async () => {
      const j = await open();
      j.append(entry(0));
      await j.close();
      expect(() => j.append(entry(1))).toThrow();
    });

    if (hooks.reopen) {
      const reopen = hooks.reopen;
      it('keeps records and cursors across close and open', async () => {
        const j = await open();
        for (let i = 0; i < 25; i++) j.append(entry(i));
        j.addConsumer('a');
        j.addConsumer('b');
        j.commit('a', 7);
        j.commit('b', 20);
        const before = (await j.read(0, 100)).map(plain);
        await j.close();
        const k = reopen(j, big);
        made.push(k);
        const report = await k.open();
        expect(report).toMatchObject({ records: 25, damaged: 0, truncatedBytes: 0, headSeq: 25, oldestSeq: 0 });
        k.addConsumer('a');
        k.addConsumer('b');
        expect(k.cursor('a')).toBe(7);
        expect(k.cursor('b')).toBe(20);
        expect((await k.read(0, 100)).map(plain)).toEqual(before);
        expect(k.append(entry(25))).toBe(25);
      });
    }
  });
}

/** A record with its payload as a plain array, for deep equality. */
function plain(r: JournalRecord): Omit<JournalRecord, 'payload'> & { payload: number[] } {
  return { seq: r.seq, sourceId: r.sourceId, topic: r.topic, receivedAt: r.receivedAt, payload: [...r.payload] };
}

/** Lets queued microtasks and immediates run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
