/**
 * Reads records back from the segment files for `Journal.read`: finds the segment by seq,
 * starts at the nearest sparse-index entry (or where the previous read of that seq range
 * ended: tailing the head costs one small read), reads in chunks sized from the number of
 * records wanted, verifies every checksum, and returns records whose payloads are views
 * of the chunk just read. A block is decoded with its segment's dictionary, loaded from the
 * segment's defining blocks when the segment is not the active one (at most MAX_DICTS kept).
 * Memory per call is bounded by the records asked for.
 */
import * as fs from 'node:fs';
import { checkUnit, decodeBlock, readDefines, unitCount, unitIsBlock, unitSeq } from './block-codec.js';
import type { JournalRecord } from './journal.js';
import { HEADER_BYTES, PARTIAL, declaredFrameBytes, FrameRecord, frameSeq } from './record-codec.js';
import { SegmentDict } from './segment-dict.js';
import { findNextFrame } from './segment-scan.js';
import { INDEX_STRIDE, type Segment } from './segment.js';
import type { SegmentLog } from './segment-log.js';

const MAX_CHUNK = 1024 * 1024;
const MAX_HINTS = 64;
/** Dictionaries of segments other than the active one kept loaded. */
const MAX_DICTS = 4;

/** Called when a read meets damage that recovery had not seen (bytes changed on disk since). */
export type DamageListener = (seg: Segment, offset: number, resumeAt: number) => void;

export class SegmentReader {
  /** Where earlier reads stopped: next seq → its segment and offset. */
  private readonly hints = new Map<number, { seg: Segment; offset: number }>();
  /** Segments whose dictionary this reader loaded, oldest first. */
  private readonly loaded: Segment[] = [];

  constructor(
    private readonly log: SegmentLog,
    private readonly onDamage: DamageListener,
  ) {}

  async read(fromSeq: number, max: number): Promise<JournalRecord[]> {
    const out: JournalRecord[] = [];
    let seq = fromSeq;
    while (out.length < max && seq < this.log.head) {
      const segs = this.log.segments;
      if (seq < segs[0]!.firstSeq) seq = segs[0]!.firstSeq;
      const i = findSegment(segs, seq);
      const seg = segs[i]!;
      if (seq >= seg.endSeq) {
        // Past this segment's last record (a damaged stretch at its end): on to the next.
        const next = segs[i + 1];
        if (!next) break;
        seq = next.firstSeq;
        continue;
      }
      const before = out.length;
      const hint = this.hints.get(seq);
      const start = hint && hint.seg === seg ? { offset: hint.offset, seq } : seg.locate(seq);
      const fd = seg.acquire();
      let stop: number;
      try {
        stop = await this.readSegment(seg, fd, start.offset, seg.bytes, seq, max, out, start.seq === seq);
      } finally {
        seg.release();
      }
      if (seg.deleted) {
        // Dropped while we read: what it held is gone for this reader too.
        out.length = before;
        continue;
      }
      // Older segments may have been deleted during the await (the segment list is
      // shifted in place), so the index found before it is stale: look `seg` up again.
      const now = this.log.segments;
      const following = now[now.indexOf(seg) + 1];
      const last = out[out.length - 1];
      if (out.length > before && last) {
        seq = last.seq + 1;
        this.remember(seq, seg, stop);
      } else seq = following?.firstSeq ?? seg.endSeq;
      if (out.length < max && stop >= seg.bytes) seq = Math.max(seq, following?.firstSeq ?? seg.endSeq);
    }
    return out;
  }

  /** Forgets read positions in `seg` (it is being deleted). */
  forget(seg: Segment): void {
    for (const [k, h] of this.hints) if (h.seg === seg) this.hints.delete(k);
  }

  /**
   * Reads records with seq ≥ `fromSeq` from `seg` between `offset` and `limit` into `out`
   * until it holds `max`; returns the offset where it stopped.
   */
  private async readSegment(
    seg: Segment,
    fd: number,
    offset: number,
    limit: number,
    fromSeq: number,
    max: number,
    out: JournalRecord[],
    aligned: boolean,
  ): Promise<number> {
    let pos = offset;
    const avg = seg.avgRecordBytes();
    let need = 0;
    while (pos < limit && out.length < max) {
      const skip = seg.skipAt(pos);
      if (skip !== undefined) {
        pos = skip;
        continue;
      }
      const wanted = Math.ceil((max - out.length) * avg * 1.25) + (aligned ? 0 : INDEX_STRIDE) + 4096;
      const size = Math.min(limit - pos, Math.max(need, Math.min(MAX_CHUNK, wanted)));
      const buf = Buffer.allocUnsafe(size);
      const got = await readAt(fd, buf, pos);
      if (got < size) limit = pos + got; // the file shrank under us: read what is there
      let i = 0;
      need = 0;
      while (i < got && out.length < max) {
        if (i > 0 && seg.skipAt(pos + i) !== undefined) break;
        const r = checkUnit(buf, i, got);
        if (r > 0) {
          if (!unitIsBlock(buf, i)) {
            if (frameSeq(buf, i) >= fromSeq) out.push(new FrameRecord(buf, i, r));
            i += r;
            continue;
          }
          const count = unitCount(buf, i);
          if (unitSeq(buf, i) + count <= fromSeq) {
            i += r;
            continue;
          }
          let lost = 0;
          let went: number;
          try {
            went = decodeBlock(buf, i, r, fromSeq, max, this.dictOf(seg, fd), out, () => lost++);
          } catch {
            went = count; // malformed despite its checksum: skipped as damage
            lost = 1;
            seg.noteSkip(pos + i, pos + i + r);
          }
          if (lost > 0) this.onDamage(seg, pos + i, pos + i + r);
          if (went < count) break; // `max` reached inside the block: the next read starts at it again
          i += r;
          continue;
        }
        if (r === PARTIAL && pos + i + HEADER_BYTES <= limit) {
          const declared = got - i >= HEADER_BYTES ? declaredFrameBytes(buf, i) : HEADER_BYTES;
          if (pos + i + declared <= limit) {
            if (i === 0) need = declared;
            break;
          }
        }
        // Damage recovery did not see: resynchronise on the next intact frame.
        const resume = this.resync(seg, fd, pos + i, limit);
        this.onDamage(seg, pos + i, resume);
        i = resume - pos;
        break;
      }
      aligned = true;
      pos += i;
    }
    return pos;
  }

  /** `seg`'s dictionary, loaded from its defining blocks if need be. */
  private dictOf(seg: Segment, fd: number): SegmentDict {
    if (seg.dict) return seg.dict;
    const dict = new SegmentDict();
    const r = seg.defineRanges;
    for (let k = 0; k < r.length; k += 2) {
      const buf = Buffer.allocUnsafe(r[k + 1]! - r[k]!);
      const got = fs.readSync(fd, buf, 0, buf.length, r[k]!);
      for (let i = 0; i < got;) {
        const n = checkUnit(buf, i, got);
        if (n <= 0) break; // damaged since the scan: its records will be found lost when read
        try {
          readDefines(buf, i, n, dict);
        } catch {
          // malformed despite its checksum: the records naming its entries are lost
        }
        i += n;
      }
    }
    seg.dict = dict;
    this.loaded.push(seg);
    const active = this.log.active;
    while (this.loaded.length > MAX_DICTS) {
      const old = this.loaded.shift()!;
      if (old !== active) old.dict = undefined;
    }
    return dict;
  }

  private resync(seg: Segment, fd: number, from: number, limit: number): number {
    const buf = Buffer.allocUnsafe(limit - from);
    const got = fs.readSync(fd, buf, 0, buf.length, from);
    const next = findNextFrame(buf, 1, got, seg.firstSeq, Number.MAX_SAFE_INTEGER);
    const resume = next < 0 ? limit : from + next;
    seg.noteSkip(from, resume);
    return resume;
  }

  private remember(seq: number, seg: Segment, offset: number): void {
    if (this.hints.size >= MAX_HINTS) {
      const oldest = this.hints.keys().next();
      if (!oldest.done) this.hints.delete(oldest.value);
    }
    this.hints.set(seq, { seg, offset });
  }
}

/** Index of the last segment whose firstSeq ≤ seq (0 if none). */
function findSegment(segs: readonly Segment[], seq: number): number {
  let lo = 0;
  let hi = segs.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.firstSeq <= seq) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

function readAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}
