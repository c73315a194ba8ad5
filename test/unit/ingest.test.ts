import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_GROUP_MS, Ingest } from '../../src/ingest/ingest.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { MemoryJournal, RECORD_OVERHEAD } from '../../src/journal/memory-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';
import { DecodedCache } from '../../src/ingest/decoded-cache.js';
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
  cache = new DecodedCache(1, 16);
  bad = [];
  acked = [];
});
afterEach(() => {
  vi.useRealTimers();
});

/** Counts the journal writes (flushes) from now on. */
function countFlushes(): () => number {
  let n = 0;
  const flush = journal.flush.bind(journal);
  journal.flush = () => {
    n++;
    return flush();
  };
  return () => n;
}

/** Runs the end-of-turn journal write (setImmediate). */
async function endOfTurn(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

describe('Ingest', () => {
  it('journals a good message before acking it and hands its readings to the cache', async () => {
    const ingest = make(10);
    await journal.open();
    ingest.accept(msg('m1'));
    expect(acked).toEqual([]); // staged: acked after the turn's journal write
    await endOfTurn();
    expect(acked).toEqual(['m1']);
    const [rec] = await journal.read(0, 10);
    expect(rec?.payload.toString()).toBe('m1');
    expect(cache.take(0)?.[0]?.fields.v).toBe('m1');
    expect(counters.get('messages_received', { source: 'broker' })).toBe(1);
    expect(counters.get('messages_decoded', { source: 'broker' })).toBe(1);
  });

  it('refuses bad input before the journal: reported once, acked, never journaled', async () => {
    const ingest = make(10);
    await journal.open();
    ingest.accept(msg('bad'));
    ingest.accept(msg('boom'));
    expect(bad).toEqual([
      { topic: 't', reason: 'invalid_json' },
      { topic: 't', reason: 'internal_error' },
    ]);
    expect(acked).toEqual(['bad', 'boom']);
    expect(journal.stats().headSeq).toBe(0);
    expect(counters.get('messages_received', { source: 'broker' })).toBe(2);
    expect(counters.get('messages_decoded', { source: 'broker' })).toBe(0);
  });

  it('policy block: holds messages unacked, in order, and acks them when room is freed', async () => {
    const ingest = make(2);
    await journal.open();
    journal.addConsumer('out');
    for (const p of ['a1', 'a2', 'a3', 'a4']) ingest.accept(msg(p));
    await endOfTurn();
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
    journal.stage = (e) => {
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return append(e);
    };
    ingest.accept(msg('x1'));
    await endOfTurn();
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
    expect(ingest.stop()).toBe(1); // b1 staged: written and acked at stop
    await endOfTurn();
    ingest.accept(msg('b3'));
    expect(acked).toEqual(['b1']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Ingest batching and the ack barrier', () => {
  it('writes the journal once per turn for every message of that turn, then acks them', async () => {
    const ingest = make(1000);
    await journal.open();
    const flushes = countFlushes();
    for (let i = 0; i < 100; i++) ingest.accept(msg(`m${i}`));
    expect(acked).toEqual([]);
    await endOfTurn();
    expect(flushes()).toBe(1);
    expect(acked).toHaveLength(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('group commit: while no ack waits (QoS 0), one write takes groupMs worth of turns; a message needing an ack brings it forward', async () => {
    const ingest = make(1000);
    await journal.open();
    const flushes = countFlushes();
    const qos0 = (p: string): RawMessage => ({ ...msg(p), ackGated: true, ack: () => acked.push(p) }); // acked at once, nothing held
    ingest.accept(qos0('a'));
    await endOfTurn();
    ingest.accept(qos0('b'));
    await vi.advanceTimersByTimeAsync(DEFAULT_GROUP_MS - 1);
    expect(flushes()).toBe(0); // still grouping
    await vi.advanceTimersByTimeAsync(1);
    expect(flushes()).toBe(1);
    expect(payloadsOf(await journal.read(0, 10))).toEqual(['a', 'b']);

    ingest.accept(qos0('c'));
    ingest.accept(msg('d')); // acked only after the write: no more waiting
    await endOfTurn();
    expect(flushes()).toBe(2);
    expect(acked).toEqual(['a', 'b', 'c', 'd']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writes at once when flushBytes are staged', async () => {
    journal = new MemoryJournal({ maxBytes: 1e6, policy: 'block' });
    let staged = 0;
    Object.defineProperty(journal, 'stagedBytes', { get: () => staged });
    const stage = journal.stage.bind(journal);
    journal.stage = (e) => {
      staged += e.payload.length;
      return stage(e);
    };
    const flush = journal.flush.bind(journal);
    journal.flush = () => {
      staged = 0;
      return flush();
    };
    const ingest = new Ingest({ journal, decode, onBadMessage: () => undefined, cache, counters, logger: silentLogger(), flushBytes: 4 });
    await journal.open();
    ingest.accept(msg('ab'));
    expect(acked).toEqual([]);
    ingest.accept(msg('cd'));
    expect(acked).toEqual(['ab', 'cd']);
  });

  it('a gated source acks at once; its socket stays corked until the journal write, then the acks go out together', async () => {
    const ingest = make(10);
    await journal.open();
    const { PassThrough } = await import('node:stream');
    const wire = new PassThrough();
    const sent: string[] = [];
    wire.on('data', (b: Buffer) => sent.push(b.toString()));
    const gated = (p: string): RawMessage => ({
      ...msg(p),
      ackGated: true,
      ack: () => {
        ingest.ackBarrier.hold(wire);
        wire.write(`puback ${p};`);
        acked.push(p);
      },
    });
    ingest.accept(gated('g1'));
    ingest.accept(gated('g2'));
    expect(acked).toEqual(['g1', 'g2']); // mqtt.js may read the next packet
    expect(wire.writableCorked).toBe(1);
    await Promise.resolve();
    expect(sent).toEqual([]); // the PUBACKs wait for the journal write
    await endOfTurn();
    expect(wire.writableCorked).toBe(0);
    expect(sent.join('')).toBe('puback g1;puback g2;');
    expect(payloadsOf(await journal.read(0, 10))).toEqual(['g1', 'g2']);
  });

  it('a failed journal write withdraws gated acks with their connection and holds the messages for a retry', async () => {
    const ingest = make(10);
    await journal.open();
    const { PassThrough } = await import('node:stream');
    const wire = new PassThrough();
    const sent: string[] = [];
    wire.on('data', (b: Buffer) => sent.push(b.toString()));
    wire.on('error', () => undefined);
    // Staged entries wait in `pending` until flush, as the contract says (MemoryJournal appends at stage).
    const append = journal.append.bind(journal);
    let pending: JournalEntry[] = [];
    let failing = true;
    journal.stage = (e) => pending.push(e) - 1 + journal.stats().headSeq;
    journal.flush = () => {
      const batch = pending;
      pending = [];
      if (failing) throw new Error('EIO: i/o error');
      for (const e of batch) append(e);
      return 'ok';
    };
    ingest.accept({
      ...msg('h1'),
      ackGated: true,
      ack: () => {
        ingest.ackBarrier.hold(wire);
        wire.write('puback h1;');
      },
    });
    ingest.accept(msg('h2')); // a source that acks after the write
    await endOfTurn();
    expect(wire.destroyed).toBe(true);
    expect(sent).toEqual([]);
    expect(acked).toEqual([]);
    expect(ingest.holding).toBe(2);
    expect(counters.get('journal_append_errors')).toBe(1);
    failing = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(ingest.holding).toBe(0);
    expect(acked).toEqual(['h2']);
    expect(payloadsOf(await journal.read(0, 10))).toEqual(['h1', 'h2']);
  });
});

function payloadsOf(recs: { payload: Buffer }[]): string[] {
  return recs.map((r) => r.payload.toString());
}
