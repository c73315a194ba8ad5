/**
 * The segment files of the journal: recovery at open (the active segment's dictionary is
 * rebuilt from its blocks), appends to the active segment (one write(2) per batch of
 * records, encoded as blocks, on an O_APPEND descriptor), rotation, deletion of the
 * oldest segments, and the sync policy (fdatasync after every append, or N ms after the
 * first unsynced write: no timer runs while nothing waits for a sync). Knows nothing of consumers or quotas: FileJournal does.
 */
import * as fs from 'node:fs';
import type { Logger } from '../observe/logger.js';
import { nodeFileIO, type JournalFileIO } from './file-io.js';
import { unitDefines } from './block-codec.js';
import { SegmentDict } from './segment-dict.js';
import { scanSegment } from './segment-scan.js';
import { Segment, parseSegmentFileName } from './segment.js';

export type SyncPolicy = 'always' | number;

export interface RecoveryFindings {
  readonly records: number;
  readonly damaged: number;
  readonly truncatedBytes: number;
}

export class SegmentLog {
  /** Oldest first; the last one is the active segment. Never empty once recovered. */
  segments: Segment[] = [];
  /** The seq the next append gets. */
  head = 0;
  totalBytes = 0;
  /** Every record with seq < syncedHead has been fdatasynced. */
  syncedHead = 0;
  private fd = -1;
  private dirty = false;
  private dirDirty = false;
  /** Rotated-out descriptors waiting for their fdatasync, then their close. */
  private pending: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;
  /** The segment directory vanished while running (checked at each interval sync). */
  onFatal: ((err: Error) => void) | undefined;
  /** Called after each interval fsync that moved `syncedHead`. */
  onSynced: (() => void) | undefined;

  constructor(
    private readonly dir: string,
    private readonly sync: SyncPolicy,
    private readonly logger: Logger,
    private readonly io: JournalFileIO = nodeFileIO,
  ) {}

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /** Scans every segment, cuts torn tails, opens the active segment for appends. */
  recover(headHint: number): RecoveryFindings {
    fs.mkdirSync(this.dir, { recursive: true });
    const firsts = fs
      .readdirSync(this.dir)
      .map(parseSegmentFileName)
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
    let records = 0;
    let damaged = 0;
    let truncatedBytes = 0;
    for (let i = 0; i < firsts.length; i++) {
      const seg = new Segment(this.dir, firsts[i]!);
      const bound = firsts[i + 1] ?? Number.MAX_SAFE_INTEGER;
      const buf = fs.readFileSync(seg.path);
      const last = i === firsts.length - 1;
      if (last) seg.dict = new SegmentDict();
      const found = scanSegment(buf, seg, bound, seg.dict);
      damaged += found.damaged;
      if (found.validEnd < buf.length) {
        truncatedBytes += buf.length - found.validEnd;
        // A cut tail counts as one damaged record (a torn one, or bytes that should have been
        // one); in an older segment, as the seqs missing before the next segment.
        damaged += Math.max(1, i === firsts.length - 1 ? 1 : bound - seg.endSeq);
        truncateFile(seg.path, found.validEnd);
        seg.bytes = found.validEnd;
      }
      if (i < firsts.length - 1 && seg.records === 0) {
        seg.delete();
        continue;
      }
      records += seg.records;
      this.segments.push(seg);
    }
    if (this.segments.length === 0) {
      this.head = headHint;
      this.createSegment(headHint);
    } else {
      this.head = this.active.endSeq;
      this.fd = this.io.openAppend(this.active.path);
    }
    this.totalBytes = this.segments.reduce((sum, s) => sum + s.bytes, 0);
    this.syncedHead = this.head;
    return { records, damaged, truncatedBytes };
  }

  /**
   * Writes consecutive encoded units (`buf[0, len)`, of the lengths `lens`, holding `counts`
   * records, from seq `head` on) with ONE write(2) and returns the first seq. All or nothing:
   * a failed or short write is cut off again and thrown.
   */
  writeUnits(buf: Buffer, len: number, lens: readonly number[], counts: readonly number[], needsSync = true): number {
    const seg = this.active;
    const offset = seg.bytes;
    let written: number;
    try {
      written = this.io.write(this.fd, buf, 0, len);
    } catch (err) {
      this.undoPartialWrite(offset);
      throw err;
    }
    if (written !== len) {
      this.undoPartialWrite(offset);
      const err = new Error(`journal: short write (${written} of ${len} bytes)`) as NodeJS.ErrnoException;
      err.code = 'ENOSPC';
      throw err;
    }
    const first = this.head;
    for (let i = 0, p = 0; i < lens.length; i++) {
      const n = lens[i]!;
      const c = counts[i]!;
      seg.noteUnit(this.head, c, offset + p, n, unitDefines(buf, p));
      this.head += c;
      p += n;
    }
    this.totalBytes += len;
    if (!needsSync) return first; // covered by the next sync of other data (or close)
    if (this.sync === 'always') {
      this.io.fdatasyncSync(this.fd);
      this.syncedHead = this.head;
      this.onSynced?.();
    } else {
      this.dirty = true;
      this.arm();
    }
    return first;
  }

  /** Starts a new active segment at `head`; the old one is synced (now or on the next tick) and closed. */
  rotate(): void {
    if (this.active.records === 0) return;
    const old = this.fd;
    const was = this.active;
    this.createSegment(this.head); // first: if it fails, the active segment simply stays
    was.dict = undefined; // a reader loads it again from the define blocks when it needs it
    if (this.sync === 'always') this.io.close(old);
    else {
      this.pending.push(old);
      this.arm();
    }
  }

  /** Deletes the oldest segment (never the active one) and returns it. */
  deleteOldest(): Segment | undefined {
    if (this.segments.length < 2) return undefined;
    const seg = this.segments.shift()!;
    try {
      seg.delete();
    } catch (err) {
      // Left on disk: the next open scans it again and the cursors let it go then.
      this.logger.error({ err, file: seg.path }, 'journal: could not delete a segment');
    }
    this.totalBytes -= seg.bytes;
    this.dirDirty = true;
    this.arm();
    return seg;
  }

  /** Syncs what is dirty, closes every descriptor. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.syncing;
    if (this.fd >= 0) {
      for (const fd of this.pending) closeQuietly(this.io, fd, true);
      this.pending = [];
      this.io.fdatasyncSync(this.fd);
      this.io.close(this.fd);
      this.fd = -1;
      this.syncedHead = this.head;
      if (this.dirDirty) syncDir(this.dir);
    }
    for (const seg of this.segments) seg.closeReadFd();
  }

  private createSegment(firstSeq: number): void {
    const seg = new Segment(this.dir, firstSeq);
    seg.dict = new SegmentDict();
    this.fd = this.io.openAppend(seg.path); // O_APPEND | O_CREAT | O_WRONLY
    this.segments.push(seg);
    if (this.sync === 'always') syncDir(this.dir);
    else {
      this.dirDirty = true;
      this.arm();
    }
  }

  /** Interval policy: the sync `sync` ms after the first write that waits for one (one timer, none when clean). */
  private arm(): void {
    if (this.timer !== undefined || this.closed || typeof this.sync !== 'number') return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, this.sync);
    this.timer.unref();
  }

  private undoPartialWrite(offset: number): void {
    try {
      this.io.ftruncateSync(this.fd, offset);
    } catch (err) {
      this.logger.error({ err, file: this.active.path }, 'journal: could not cut a failed write; recovery will');
    }
  }

  /** Interval policy: fdatasync what was written since the last tick (off the event loop). */
  private tick(): void {
    if (!this.dirty && !this.dirDirty && this.pending.length === 0) return;
    if (this.syncing) return; // re-armed when it ends
    if (!fs.existsSync(this.dir)) {
      // Removed under us: appends would go on into unlinked files, lost at the next start.
      const err = new Error(`journal: ${this.dir} was removed`) as NodeJS.ErrnoException;
      err.code = 'ENOENT';
      this.onFatal?.(err);
      return;
    }
    const head = this.head;
    const fds = [this.fd, ...this.pending];
    const closing = this.pending;
    const dir = this.dirDirty;
    this.pending = [];
    this.dirty = false;
    this.dirDirty = false;
    this.syncing = Promise.all([...fds.map((fd) => this.io.fdatasync(fd)), dir ? this.io.fsyncDir(this.dir) : undefined])
      .then(() => {
        const moved = head > this.syncedHead;
        this.syncedHead = Math.max(this.syncedHead, head);
        if (moved) this.onSynced?.();
      })
      .catch((err: unknown) => {
        this.dirty = true;
        this.logger.error({ err }, 'journal: fdatasync failed');
      })
      .finally(() => {
        for (const fd of closing) closeQuietly(this.io, fd, false);
        this.syncing = undefined;
        if (this.dirty || this.dirDirty || this.pending.length > 0) this.arm();
      });
  }
}

function truncateFile(file: string, length: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, length);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function closeQuietly(io: JournalFileIO, fd: number, syncFirst: boolean): void {
  try {
    if (syncFirst) io.fdatasyncSync(fd);
    io.close(fd);
  } catch {
    // Already closed or failing: nothing left to save through this descriptor.
  }
}
