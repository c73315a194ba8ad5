/**
 * FileJournal: the durable `Journal` (mode `durable`). See journal.ts for the contract.
 *
 * On disk, under `dir`:
 *   segments/<first seq, 20 digits>.seg   append-only segment files, oldest first
 *   cursors/                              LevelDB (classic-level): `cursor:<consumer>` → next seq,
 *                                         `state:<consumer>` → its state as of that cursor
 *
 * A segment is a plain sequence of units, no file header: blocks (format 2, block-codec.ts
 * is the reference: the records of one write, source ids and topics as numbers into the
 * segment's own dictionary, varints, time deltas, one CRC-32C per block), after the
 * single-record frames of format 1 (record-codec.ts) in a spool written by an earlier
 * release, which are still read. docs/architecture.md has both layouts.
 *
 * Appends (journal-writer.ts): `stage` keeps the entry for the next write (quota checked
 * there); `flush` encodes the staged records as blocks and hands them to the OS with ONE
 * write(2) on an O_APPEND descriptor (survives kill -9 from then on); `append` is both. Sync
 * `always` adds an fdatasync per flush, sync N fdatasyncs every N ms when dirty (power loss
 * costs at most N ms; segment-log.ts). A segment is rotated once it holds `segmentBytes`.
 * The newest flushed records stay in memory too (recent-tail.ts): a drain at the head reads
 * no file.
 *
 * Recovery (`open`): every unit of every segment is verified. A damaged stretch in the
 * middle is skipped by resynchronising on the next unit with a valid magic, length and
 * CRC and a following seq, so exactly the damaged units' records are lost, counted from the
 * gap in the seqs. What follows the last intact unit (a torn block, garbage) is cut and
 * counted as one damaged record. Counts: RecoveryReport.damaged, journal_damaged_records.
 * Appends go on at the seq after the last intact record. Reads verify checksums too;
 * damage appearing after open is skipped the same way (counter journal_damaged_reads).
 * Memory: recovery holds one segment at a time; the sparse index costs 16 bytes per
 * 32 KiB of journal (≈ 5 MB for 10 GB).
 *
 * Retention (retention.ts): a segment is deleted when every registered consumer's cursor has passed it
 * (never with no consumer registered); the active segment never is. Quota `maxBytes`
 * over all segments: `drop-oldest` deletes the oldest segments, counting per consumer
 * the records it had not read (journal_dropped_records{consumer}; {} when none is
 * registered) and moving its cursor past them; `block` makes `append` return 'full'
 * until commits free space.
 *
 * Refusals: under `block` at the quota, and under either policy when the disk itself is
 * full, `append` returns 'full' (journal-writer.ts says how). `segmentBytes` is capped at a
 * quarter of `maxBytes`.
 *
 * Cursors: commits are in memory at once and saved every `cursorFlushMs` and on close,
 * never beyond what has been fsynced, so after a crash a cursor may be slightly behind
 * (a few records replayed), never ahead. Call `addConsumer` for every output right after
 * `open`: stored cursors of consumers not added do not hold segments.
 */
import * as path from 'node:path';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { ConsumerCursors } from './consumer-cursors.js';
import { CursorStore } from './cursor-store.js';
import type { AppendResult, Journal, JournalEntry, JournalRecord, JournalStats, RecoveryReport } from './journal.js';
import { SegmentLog, type RecoveryFindings, type SyncPolicy } from './segment-log.js';
import { RecentTail } from './recent-tail.js';
import { Retention } from './retention.js';
import { SegmentReader } from './segment-reader.js';
import type { Segment } from './segment.js';
import { JournalWriter } from './journal-writer.js';
import type { JournalFileIO } from './file-io.js';
import { checkSpoolDir, spoolDirError } from './spool-dir.js';

export interface FileJournalOptions {
  /** Directory of the journal (created if missing). */
  dir: string;
  /** Size at which a segment is rotated. Default 16 MiB; at most a quarter of `maxBytes` is used. */
  segmentBytes?: number;
  /** Quota over all segments, bytes. */
  maxBytes: number;
  policy: 'drop-oldest' | 'block';
  /** `always`: fdatasync per append (slow); N: fdatasync every N ms when dirty. */
  sync: SyncPolicy;
  logger: Logger;
  counters?: Counters;
  /** How often committed cursors are saved, ms. Default 200. */
  cursorFlushMs?: number;
  /** The segment files' writes and syncs (tests swap it to simulate a power cut). Default node:fs. */
  io?: JournalFileIO;
  /** The directory became unusable while running (removed, read-only): the error names it and the fix. */
  onFatal?: (err: Error) => void;
}

const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 4096;

export class FileJournal implements Journal {
  private readonly log: SegmentLog;
  private readonly reader: SegmentReader;
  private readonly cursors: ConsumerCursors;
  private readonly retention: Retention;
  private readonly writer: JournalWriter;
  private readonly tail = new RecentTail();
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private opening: Promise<RecoveryReport> | undefined;
  private readonly reads = new Set<Promise<unknown>>();

  constructor(private readonly opts: FileJournalOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError('FileJournal: maxBytes must be > 0');
    if (opts.sync !== 'always' && !(opts.sync > 0)) throw new RangeError('FileJournal: sync must be "always" or a positive number of ms');
    const wanted = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const segmentBytes = Math.max(MIN_SEGMENT_BYTES, Math.min(wanted, Math.floor(opts.maxBytes / 4)));
    this.log = new SegmentLog(path.join(opts.dir, 'segments'), opts.sync, opts.logger, opts.io);
    this.log.onFatal = (err) => opts.onFatal?.(spoolDirError(opts.dir, err));
    this.reader = new SegmentReader(this.log, (seg, offset, resumeAt) => this.onReadDamage(seg, offset, resumeAt));
    const store = new CursorStore(path.join(opts.dir, 'cursors'));
    this.cursors = new ConsumerCursors(store, opts.cursorFlushMs ?? 200, opts.logger, () => this.log.syncedHead);
    this.log.onSynced = () => this.cursors.dataSynced();
    this.retention = new Retention(this.log, this.cursors, {
      ...opts,
      rotate: () => this.writer.rotate(),
      onDeleted: (seg) => this.reader.forget(seg),
    });
    this.writer = new JournalWriter(this.log, this.retention, this.tail, { ...opts, segmentBytes });
  }

  open(): Promise<RecoveryReport> {
    if (this.state !== 'new') return Promise.reject(new Error('FileJournal: open() may be called once'));
    this.state = 'opening';
    this.opening = this.recover();
    return this.opening;
  }

  private async recover(): Promise<RecoveryReport> {
    let found: RecoveryFindings;
    try {
      checkSpoolDir(this.opts.dir); // a clear error naming the path and the fix, not LevelDB's
      // The cursor database first: its lock keeps a second process out of this directory.
      const headHint = await this.cursors.load();
      found = this.log.recover(headHint);
    } catch (err) {
      this.state = 'closed';
      await this.cursors.close().catch(() => undefined);
      throw err;
    }
    this.cursors.start(this.log.head);
    const report: RecoveryReport = { ...found, headSeq: this.log.head, oldestSeq: this.oldestSeq() };
    this.opts.counters?.inc('journal_damaged_records', undefined, found.damaged);
    const logged = { ...report, dir: this.opts.dir, segments: this.log.segments.length, bytes: this.log.totalBytes };
    if (found.damaged > 0 || found.truncatedBytes > 0) this.opts.logger.warn({ code: 'EFX_SPOOL_DAMAGED', ...logged }, 'journal: recovered with damage');
    else this.opts.logger.info(logged, 'journal: opened');
    this.state = 'open';
    return report;
  }

  append(entry: JournalEntry): AppendResult {
    const seq = this.stage(entry);
    if (seq === 'full') return seq;
    return this.flush() === 'ok' ? seq : 'full';
  }

  stage(entry: JournalEntry): AppendResult {
    this.assertOpen();
    return this.writer.stage(entry);
  }

  get stagedBytes(): number {
    return this.writer.stagedBytes;
  }

  flush(): 'ok' | 'full' {
    return this.writer.flush();
  }

  read(fromSeq: number, maxRecords: number): Promise<JournalRecord[]> {
    if (this.state !== 'open') return Promise.reject(new Error(`FileJournal: not open (${this.state})`));
    if (maxRecords <= 0 || fromSeq >= this.log.head) return Promise.resolve([]);
    const from = Math.max(0, fromSeq, this.oldestSeq());
    const recent = this.tail.read(from, maxRecords);
    if (recent !== undefined) return Promise.resolve(recent);
    const p = this.reader.read(from, maxRecords);
    this.reads.add(p);
    return p.finally(() => this.reads.delete(p));
  }

  onAppend(listener: () => void): () => void {
    return this.writer.onAppend(listener);
  }

  addConsumer(id: string): void {
    this.assertOpen();
    this.cursors.add(id, this.oldestSeq(), this.log.head);
  }

  removeConsumer(id: string): void {
    this.assertOpen();
    this.cursors.remove(id);
    this.retention.releasePassed();
  }

  commit(consumerId: string, seq: number): void {
    this.assertOpen();
    if (!Number.isSafeInteger(seq)) throw new RangeError(`FileJournal: commit(${consumerId}, ${seq}): not a seq`);
    this.cursor(consumerId);
    if (this.cursors.advance(consumerId, Math.min(seq, this.log.head))) this.retention.releasePassed();
  }

  setStateSource(consumerId: string, source: () => string): void {
    this.assertOpen();
    this.cursor(consumerId);
    this.cursors.setStateSource(consumerId, source);
  }

  savedState(consumerId: string): string | undefined {
    return this.cursors.state(consumerId);
  }

  savedCursor(consumerId: string): number | undefined {
    return this.cursors.savedCursor(consumerId);
  }

  cursor(consumerId: string): number {
    const cur = this.cursors.get(consumerId);
    if (cur === undefined) throw new Error(`FileJournal: unknown consumer ${JSON.stringify(consumerId)}`);
    return cur;
  }

  stats(): JournalStats {
    const { totalBytes: bytes, segments, head: headSeq } = this.log;
    return { bytes, segments: segments.length, oldestSeq: this.oldestSeq(), headSeq, dropped: this.retention.dropped };
  }

  async close(): Promise<void> {
    if (this.state === 'opening') await this.opening?.catch(() => undefined);
    if (this.state !== 'open') {
      this.state = 'closed';
      return;
    }
    this.state = 'closed';
    this.writer.clearListeners();
    await Promise.allSettled([...this.reads]);
    try {
      await this.log.close();
    } finally {
      await this.cursors.close();
    }
  }

  private oldestSeq(): number {
    return this.log.segments[0]?.firstSeq ?? this.log.head;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`FileJournal: not open (${this.state})`);
  }

  private onReadDamage(seg: Segment, offset: number, resumeAt: number): void {
    this.opts.counters?.inc('journal_damaged_reads');
    this.opts.logger.error({ code: 'EFX_SPOOL_DAMAGED', file: seg.path, offset, resumeAt }, 'journal: damaged bytes met while reading; skipped');
  }
}
