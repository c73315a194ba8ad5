/**
 * The `memory` mode journal: a bounded RAM ring with the Journal contract's semantics
 * (journal.ts), for setups that must not write to their SD card. Nothing survives a crash.
 *
 * Size: each record counts its payload, topic and source id (string lengths) plus
 * RECORD_OVERHEAD bytes for the object around them. Records every consumer has committed
 * are freed at once. At `maxBytes`, policy `drop-oldest` drops the oldest records (also
 * unconsumed ones: consumers see the gap when they read, and their cursors move past
 * it) and counts them; `block` refuses
 * the append ('full'). A single record larger than the quota is still taken when it is
 * the only one, so that a big message cannot block a source forever.
 *
 * Payloads are copied on append: a source's buffer may be a view into a larger socket
 * chunk, which would otherwise stay alive (and uncounted) as long as the record.
 */
import type { Counters } from '../observe/counters.js';
import type { AppendResult, Journal, JournalEntry, JournalRecord, JournalStats, RecoveryReport } from './journal.js';

export interface MemoryJournalOptions {
  /** Quota in bytes (see the size rule above). */
  readonly maxBytes: number;
  readonly policy: 'drop-oldest' | 'block';
  /** `journal_dropped_records{consumer}` counts records dropped by the quota before that consumer committed them. */
  readonly counters?: Counters;
}

/**
 * Bytes counted per record on top of its payload, topic and source id: what a held record
 * really takes in the heap (its object, the topic string, the arrival time, the Buffer
 * object: 219-265 B measured by bench/memory-spool-heap.ts on node 20), so that
 * `spool.max_bytes` bounds the memory a full spool takes, tiny payloads included.
 */
export const RECORD_OVERHEAD = 256;

export class MemoryJournal implements Journal {
  /** Stored records, oldest first, from index `first` on; `records[first].seq === oldest`. */
  private records: (JournalRecord | undefined)[] = [];
  private first = 0;
  private oldest = 0;
  private head = 0;
  private bytes = 0;
  private dropped = 0;
  private readonly cursors = new Map<string, number>();
  /** Consumers' state sources (kept in RAM: across a reload, not a restart). */
  private readonly states = new Map<string, () => string>();
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(private readonly opts: MemoryJournalOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError(`memory journal: maxBytes must be > 0, got ${opts.maxBytes}`);
  }

  open(): Promise<RecoveryReport> {
    if (this.state !== 'new') return Promise.reject(new Error(`memory journal: open() in state ${this.state}`));
    this.state = 'open';
    return Promise.resolve({ records: 0, damaged: 0, truncatedBytes: 0, headSeq: 0, oldestSeq: 0 });
  }

  append(entry: JournalEntry): AppendResult {
    if (this.state !== 'open') throw new Error(`memory journal: append() in state ${this.state}`);
    const size = recordBytes(entry);
    if (this.bytes + size > this.opts.maxBytes && this.head > this.oldest) {
      if (this.opts.policy === 'block') return 'full';
      this.dropOldest(size);
    }
    const seq = this.head++;
    this.records.push({ seq, sourceId: entry.sourceId, topic: entry.topic, payload: Buffer.from(entry.payload), receivedAt: entry.receivedAt });
    this.bytes += size;
    this.queueNotify();
    return seq;
  }

  /** Nothing to batch in memory: a staged record is appended at once. */
  stage(entry: JournalEntry): AppendResult {
    return this.append(entry);
  }

  flush(): 'ok' {
    return 'ok';
  }

  readonly stagedBytes = 0;

  read(fromSeq: number, maxRecords: number): Promise<JournalRecord[]> {
    if (this.state !== 'open') return Promise.reject(new Error(`memory journal: read() in state ${this.state}`));
    const from = Math.max(fromSeq, this.oldest);
    const n = Math.min(Math.max(0, Math.floor(maxRecords)), this.head - from);
    if (n <= 0) return Promise.resolve([]);
    const start = this.first + (from - this.oldest);
    const out: JournalRecord[] = [];
    for (let i = start; i < start + n; i++) out.push(this.stored(i));
    return Promise.resolve(out);
  }

  onAppend(listener: () => void): () => void {
    const l = (): void => listener(); // a listener added twice gets two entries
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  addConsumer(id: string): void {
    if (!this.cursors.has(id)) this.cursors.set(id, this.oldest);
  }

  removeConsumer(id: string): void {
    this.states.delete(id);
    if (this.cursors.delete(id)) this.release();
  }

  commit(consumerId: string, seq: number): void {
    const cur = this.cursorOf(consumerId);
    if (!Number.isInteger(seq) || seq > this.head) throw new RangeError(`memory journal: commit(${consumerId}, ${seq}) beyond the head ${this.head}`);
    if (seq <= cur) return;
    this.cursors.set(consumerId, seq);
    this.release();
  }

  cursor(consumerId: string): number {
    return this.cursorOf(consumerId);
  }

  setStateSource(consumerId: string, source: () => string): void {
    this.cursorOf(consumerId);
    this.states.set(consumerId, source);
  }

  savedState(consumerId: string): string | undefined {
    return this.states.get(consumerId)?.();
  }

  savedCursor(): undefined {
    return undefined; // nothing outlives the process
  }

  stats(): JournalStats {
    return { bytes: this.bytes, segments: 0, oldestSeq: this.oldest, headSeq: this.head, dropped: this.dropped };
  }

  close(): Promise<void> {
    this.state = 'closed';
    this.listeners.clear();
    this.records = [];
    this.first = 0;
    this.bytes = 0;
    return Promise.resolve();
  }

  private cursorOf(id: string): number {
    const c = this.cursors.get(id);
    if (c === undefined) throw new Error(`memory journal: unknown consumer "${id}"`);
    return c;
  }

  /** Frees the records every consumer has committed (none while there is no consumer). */
  private release(): void {
    if (this.cursors.size === 0) return;
    let low = Infinity;
    for (const c of this.cursors.values()) low = Math.min(low, c);
    while (this.oldest < low && this.head > this.oldest) this.shift();
  }

  /**
   * Drops the oldest records until `size` more bytes fit (or none is left), counting per
   * consumer the records it had not consumed and moving its cursor past them, as
   * FileJournal does.
   */
  private dropOldest(size: number): void {
    const from = this.oldest;
    while (this.bytes + size > this.opts.maxBytes && this.head > this.oldest) this.shift();
    const to = this.oldest;
    this.dropped += to - from;
    if (this.cursors.size === 0) this.opts.counters?.inc('journal_dropped_records', undefined, to - from);
    for (const [id, c] of this.cursors) {
      if (c >= to) continue;
      this.opts.counters?.inc('journal_dropped_records', { consumer: id }, to - Math.max(c, from));
      this.cursors.set(id, to);
    }
  }

  /** The record in slot `i`: slots from `first` to the end hold records (freed ones before `first` are undefined). */
  private stored(i: number): JournalRecord {
    const r = this.records[i];
    if (r === undefined) throw new Error(`memory journal: slot ${i} is empty (first ${this.first}, ${this.records.length} slots): a bug`);
    return r;
  }

  /** Removes the oldest stored record. */
  private shift(): void {
    const r = this.stored(this.first);
    this.records[this.first++] = undefined;
    this.bytes -= recordBytes(r);
    this.oldest++;
    if (this.first === this.records.length) {
      this.records = [];
      this.first = 0;
    } else if (this.first >= 4096 && this.first * 2 >= this.records.length) {
      this.records = this.records.slice(this.first);
      this.first = 0;
    }
  }

  /** Listeners run once per microtask turn, however many appends it had. */
  private queueNotify(): void {
    if (this.notifyQueued || this.listeners.size === 0) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) l();
    });
  }
}

function recordBytes(e: JournalEntry): number {
  return e.payload.length + e.topic.length + e.sourceId.length + RECORD_OVERHEAD;
}
