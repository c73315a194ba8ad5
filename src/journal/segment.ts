/**
 * One segment file of the journal: where it is, which seqs and bytes it holds, a sparse
 * index (seq → file offset of the unit holding it, one entry per INDEX_STRIDE bytes, so
 * memory stays small for any backlog), the damaged ranges found in it, where its blocks
 * that define dictionary entries are (so that a reader can load the dictionary without
 * reading the whole file), its dictionary while one is loaded, and a lazily opened read
 * descriptor that outlives deletion while a read still uses it. A unit is a format-1 frame
 * (one record) or a block (format 2, many).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SegmentDict } from './segment-dict.js';

/** Bytes between two sparse-index entries: a read scans at most this much to find its seq. */
export const INDEX_STRIDE = 32 * 1024;
const NAME_DIGITS = 20;
const NAME_RE = /^(\d{20})\.seg$/;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(NAME_DIGITS, '0')}.seg`;
}

/** The first seq encoded in a segment file name, or undefined when it is not one. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class Segment {
  /** The seq after the last record (firstSeq when empty). */
  endSeq: number;
  /** Bytes of whole records (and skipped damaged ranges) in the file. */
  bytes = 0;
  /** Intact records. */
  records = 0;
  deleted = false;
  private readonly idxSeq: number[] = [];
  private readonly idxOff: number[] = [];
  /** Damaged ranges found in the file: start offset → offset of the next intact record. */
  private readonly skips = new Map<number, number>();
  /** Byte ranges [start, end) of consecutive units that define dictionary entries. */
  readonly defineRanges: number[] = [];
  /** The dictionary, while loaded (always for the active segment). */
  dict: SegmentDict | undefined;
  private readFd: number | undefined;
  private readers = 0;

  constructor(
    readonly dir: string,
    readonly firstSeq: number,
  ) {
    this.endSeq = firstSeq;
  }

  get path(): string {
    return path.join(this.dir, segmentFileName(this.firstSeq));
  }

  /** Notes an intact unit of `len` bytes at `offset` holding `count` records from `seq` on (units arrive in file order). */
  noteUnit(seq: number, count: number, offset: number, len: number, defines = false): void {
    const n = this.idxOff.length;
    if (n === 0 || offset - this.idxOff[n - 1]! >= INDEX_STRIDE) {
      this.idxSeq.push(seq);
      this.idxOff.push(offset);
    }
    if (defines) {
      const r = this.defineRanges;
      if (r.length > 0 && r[r.length - 1] === offset) r[r.length - 1] = offset + len;
      else r.push(offset, offset + len);
    }
    this.records += count;
    this.endSeq = seq + count;
    this.bytes = offset + len;
  }

  /** Notes a damaged range [from, to) that reads jump over. */
  noteSkip(from: number, to: number): void {
    this.skips.set(from, to);
    if (to > this.bytes) this.bytes = to;
  }

  /** Where a damaged range starting at `offset` ends, if one does. */
  skipAt(offset: number): number | undefined {
    return this.skips.size === 0 ? undefined : this.skips.get(offset);
  }

  /** Offset and first seq of the last indexed unit at or before `seq` (start of file if none). */
  locate(seq: number): { offset: number; seq: number } {
    let lo = 0;
    let hi = this.idxSeq.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.idxSeq[mid]! <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return { offset: 0, seq: this.firstSeq };
    return { offset: this.idxOff[found]!, seq: this.idxSeq[found]! };
  }

  /** Average bytes per record (for sizing reads). */
  avgRecordBytes(): number {
    return this.records === 0 ? 256 : Math.ceil(this.bytes / this.records);
  }

  /** Records with seq in [from, to) held here; exact unless damage left gaps in the seqs. */
  countRecords(from: number, to: number): number {
    const a = Math.max(from, this.firstSeq);
    const b = Math.min(to, this.endSeq);
    return b > a ? Math.min(b - a, this.records) : 0;
  }

  /** A read descriptor, valid until the matching `release()` even if the file is deleted meanwhile. */
  acquire(): number {
    this.readFd ??= fs.openSync(this.path, 'r');
    this.readers++;
    return this.readFd;
  }

  release(): void {
    this.readers--;
    if (this.readers === 0 && this.deleted) this.closeReadFd();
  }

  /** Removes the file; the read descriptor closes when the last reader releases it. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.dict = undefined;
    fs.rmSync(this.path, { force: true });
    if (this.readers === 0) this.closeReadFd();
  }

  closeReadFd(): void {
    if (this.readFd === undefined) return;
    const fd = this.readFd;
    this.readFd = undefined;
    fs.closeSync(fd);
  }
}
