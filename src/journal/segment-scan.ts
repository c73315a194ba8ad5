/**
 * Verifies the records of one segment held in memory, as recovery does at open: every
 * frame's checksum is checked; after a damaged stretch the scan resynchronises on the next
 * intact frame (magic, version, sane length, matching CRC, a seq that follows), so exactly
 * the damaged records are lost; whatever follows the last intact frame is the tail to cut.
 */
import { MAGIC, checkFrame, frameSeq } from './record-codec.js';
import type { Segment } from './segment.js';

export interface ScanOutcome {
  /** Records lost to damage before the tail (from the gaps in the seqs, at least 1 per stretch). */
  readonly damaged: number;
  /** Offset after the last intact record: the file is cut here. */
  readonly validEnd: number;
}

/**
 * Offset of the first intact frame in `buf[from, end)` whose seq is in [minSeq, bound),
 * or -1. Candidates are found by their magic byte, then proven by the checksum.
 */
export function findNextFrame(buf: Buffer, from: number, end: number, minSeq: number, bound: number): number {
  let j = from;
  while (j < end) {
    j = buf.indexOf(MAGIC, j);
    if (j < 0 || j >= end) return -1;
    const r = checkFrame(buf, j, end);
    if (r > 0) {
      const s = frameSeq(buf, j);
      if (s >= minSeq && s < bound) return j;
    }
    j++;
  }
  return -1;
}

/**
 * Scans `buf` (a whole segment file) into `seg`: notes each intact record and each damaged
 * range. `bound` is the first seq that cannot belong here (the next segment's first seq).
 */
export function scanSegment(buf: Buffer, seg: Segment, bound: number): ScanOutcome {
  const end = buf.length;
  let pos = 0;
  let expected = seg.firstSeq;
  let validEnd = 0;
  let damaged = 0;
  while (pos < end) {
    const r = checkFrame(buf, pos, end);
    if (r > 0) {
      const s = frameSeq(buf, pos);
      if (s >= expected && s < bound) {
        seg.noteRecord(s, pos, r);
        expected = s + 1;
        pos += r;
        validEnd = pos;
        continue;
      }
    }
    const next = findNextFrame(buf, pos + 1, end, expected, bound);
    if (next < 0) break;
    damaged += Math.max(1, frameSeq(buf, next) - expected);
    seg.noteSkip(pos, next);
    pos = next;
  }
  return { damaged, validEnd };
}
