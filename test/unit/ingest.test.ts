import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Ingest } from '../../src/ingest.js';
import { MemoryJournal, RECORD_OVERHEAD } from '../../src/journal/memory-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { DecodedCache } from '../../src/sink/decoded-cache.js';
import { decodeError, type DecodeError, type RawMessage, type Reading } from '../../src/types.js';

let journal: MemoryJournal;
let counters: Counters;
let cache: DecodedCache;
let bad: { topic: string; reason: string }[];
let acked: string[];

function decode(m: RawMessage): Reading[] | DecodeError {
  const text = m.payload.toString();
  if (text === 'bad') return decodeError('invalid_json', 'bad');
  if (text === 'boom') throw new Error('decoder bug');
  return [{ measurement: 'm', tags: {}, fields: { v: text }, time: m.receivedAt }];
}

function msg(payload: string): RawMessage {
  return { sourceId: 'broker', topic: 't', payload: Buffer.from(payload), receivedAt: 1n, ack: () => acked.push(payload) };
}

function make(maxRecords: number, policy: 'block' | 'drop-oldest' = 'block'): Ingest {
  journal = new MemoryJournal({ maxBytes: maxRecords * (RECORD_OVERHEAD + 'broker'.length + 1 + 2), policy });
  return new Ingest({ journal, decode, onBadMessage: (m, e) => bad.push({ topic: m.topic, reason: e.reason }), cache, counters, logger: silentLogger() });
}

beforeEach(() => {
  vi.useFakeTimers();
  counters = new Counters();
  cache = new DecodedCache(16);
  bad = [];
  acked = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Ingest', () => {
  it('journals a good message before acking it and hands its readings to the cache', async () => {
    const ingest = make(10);
    await journal.open();
    ingest.accept(msg('m1'));
    expect(acked).toEqual(['m1']);
    const [rec] = await journal.read(0, 10);
    expect(rec?.payload.toString()).toBe('m1');
    expect(cache.get(0)?.[0]?.fields.v).toBe('m1');
    expect(counters.get('messages_received', { source: 'broker' })).toBe(1);
  });

  it('refuses bad input before the journal: reported once, acked, never journaled', async () => {
    const ingest = make(10);
    await journal.open();
    ingest.accept(msg('bad'));
    ingest.accept(msg('boom'));
    expect(bad).toEqual([{ topic: 't', reason: 'invalid_json' }, { topic: 't', reason: 'internal_error' }]);
    expect(acked).toEqual(['bad', 'boom']);
    expect(journal.stats().headSeq).toBe(0);
  });

  it('policy block: holds messages unacked, in order, and acks them when room is freed', async () => {
    const ingest = make(2);
    await journal.open();
    journal.addConsumer('out');
    for (const p of ['a1', 'a2', 'a3', 'a4']) ingest.accept(msg(p));
    expect(acked).toEqual(['a1', 'a2']);
    expect(ingest.holding).toBe(2);
    await vi.advanceTimersByTimeAsync(1000); // retried, still full
    expect(acked).toEqual(['a1', 'a2']);
    journal.commit('out', 1);
    ingest.retry();
    expect(acked).toEqual(['a1', 'a2', 'a3']); // a4 must wait: still one slot short
    ingest.accept(msg('a5')); // behind the held ones, never ahead of them
    journal.commit('out', 3);
    await vi.advanceTimersByTimeAsync(200);
    expect(acked).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(ingest.holding).toBe(0);
    expect((await journal.read(0, 10)).map((r) => r.payload.toString())).toEqual(['a4', 'a5']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an append that throws (disk error) holds the message instead of acking it', async () => {
    const ingest = make(10);
    await journal.open();
    const append = journal.append.bind(journal);
    let failing = true;
    journal.append = (e) => {
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return append(e);
    };
    ingest.accept(msg('x1'));
    expect(acked).toEqual([]);
    expect(counters.get('journal_append_errors')).toBe(1);
    failing = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(acked).toEqual(['x1']);
  });

  it('stop lets held messages go unacked (their senders keep them) and takes nothing more', async () => {
    const ingest = make(1);
    await journal.open();
    ingest.accept(msg('b1'));
    ingest.accept(msg('b2'));
    expect(ingest.stop()).toBe(1);
    ingest.accept(msg('b3'));
    expect(acked).toEqual(['b1']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
