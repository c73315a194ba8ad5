/**
 * The write-ahead journal: the one place where accepted messages wait. See
 * docs/architecture.md, "Delivery guarantees" and "The journal on disk".
 *
 * What is journaled is the RAW message (source, topic, payload, arrival time), appended
 * before the source acknowledges it. Decoding and the pipeline run after the journal, per
 * output, from that output's own cursor; because the arrival time is journaled, a replay
 * decodes to exactly the same points (same series, same timestamps), which InfluxDB
 * overwrites in place.
 *
 * Two implementations share this contract (and one contract test suite):
 * - FileJournal (`durable` mode): append-only segment files, each record length-prefixed
 *   and checksummed, written to the OS with write(2) before `append` or `flush` returns
 *   (safe against kill -9), fsynced per the sync policy; cursors in a small embedded database.
 * - MemoryJournal (`memory` mode): a bounded RAM ring; nothing survives a crash.
 */

/** One journaled message. `seq` increases by one per record, from 0, forever. */
export interface JournalRecord {
  readonly seq: number;
  readonly sourceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  /** Arrival time, ns since the epoch (as stamped by the source). */
  readonly receivedAt: bigint;
}

/** `unsynced`: see RawMessage.unsynced (no fsync for this entry alone). */
export type JournalEntry = Omit<JournalRecord, 'seq'> & { readonly unsynced?: boolean };

/** What `open()` found. */
export interface RecoveryReport {
  /** Records found intact. */
  readonly records: number;
  /** Damaged records skipped (checksum mismatch, torn tail), each counted. */
  readonly damaged: number;
  /** Bytes cut from a torn tail. */
  readonly truncatedBytes: number;
  readonly headSeq: number;
  readonly oldestSeq: number;
}

export interface JournalStats {
  readonly bytes: number;
  readonly segments: number;
  /** The oldest seq still stored. */
  readonly oldestSeq: number;
  /** The seq the next append gets. */
  readonly headSeq: number;
  /** Records dropped by the quota policy, in total. */
  readonly dropped: number;
}

/** The outcome of an append: its seq, or why it was refused (policy `block` at quota). */
export type AppendResult = number | 'full';

export interface Journal {
  /** Opens (recovering after a crash) and resolves what it found. Call once before anything else. */
  open(): Promise<RecoveryReport>;
  /**
   * Appends one record; synchronous and cheap (this is on every message's ack path).
   * When it returns a seq, the record is in the OS (FileJournal) and survives kill -9.
   * Returns 'full' when the quota is reached under policy `block` (the caller stops
   * acking; the broker keeps the data). Under `drop-oldest` it never returns 'full'.
   */
  append(entry: JournalEntry): AppendResult;
  /**
   * Batched appends, for the ack path: `stage` gives the record its seq (or 'full', as
   * `append`) but makes it neither durable nor readable; `flush` does that for everything
   * staged, with one write (FileJournal: one write(2)). A source may ack a staged record
   * only after `flush` returned 'ok'. When `flush` returns 'full' (disk full) or throws,
   * every staged record is forgotten and its seq is given again. `append` = stage + flush.
   */
  stage(entry: JournalEntry): AppendResult;
  flush(): 'ok' | 'full';
  /** Bytes staged and not yet flushed (flush when this grows large). */
  readonly stagedBytes: number;
  /**
   * Up to `maxRecords` records from `fromSeq` on (fewer at the head; an empty array when
   * `fromSeq` is the head). If `fromSeq` was dropped by the quota, reading starts at the
   * oldest stored record: compare the first record's seq with `fromSeq` to count the gap.
   */
  read(fromSeq: number, maxRecords: number): Promise<JournalRecord[]>;
  /** Calls `listener` after appends (possibly coalesced); returns the unsubscribe. */
  onAppend(listener: () => void): () => void;
  /** Registers a consumer (an output); its cursor starts at the oldest stored record when new. */
  addConsumer(id: string): void;
  /** Consumers no longer configured are removed, so they stop holding segments. */
  removeConsumer(id: string): void;
  /** Every record with seq < `seq` is done for this consumer. Persisted soon (FileJournal: within its flush interval). */
  commit(consumerId: string, seq: number): void;
  /** The consumer's committed position (the next seq it needs). */
  cursor(consumerId: string): number;
  /**
   * Saves the consumer's state with its cursor from now on: `source()` describes the state
   * as of the cursor last committed, and is asked whenever the cursor is saved (FileJournal:
   * both in one atomic write, only for a cursor within the fsynced data). An output's drain
   * keeps here what its shaping stage needs after a restart (pipeline/replay-state.ts).
   */
  setStateSource(consumerId: string, source: () => string): void;
  /** The state saved with the consumer's cursor (the live source's, if one is set), or undefined. */
  savedState(consumerId: string): string | undefined;
  /**
   * The consumer's cursor as last saved where a restart finds it (FileJournal: the cursor
   * database, with its state when it has a state source), i.e. where a start after kill -9
   * resumes; undefined when nothing is saved (MemoryJournal: nothing outlives the process).
   */
  savedCursor(consumerId: string): number | undefined;
  stats(): JournalStats;
  /** Flushes cursors and data (fsync), closes files. */
  close(): Promise<void>;
}
