/**
 * Verifies the units (format-1 frames, format-2 blocks) of one segment held in memory, as
 * recovery does at open: every unit's checksum is checked; after a damaged stretch the scan
 * resynchronises on the next intact unit (magic, version, sane length, matching CRC, a seq
 * that follows), so exactly the damaged units are lost; whatever follows the last intact
 * unit is the tail to cut.
 */
import { checkUnit, readDefines, unitCount, unitDefines, unitSeq } from './block-codec.js';
import { MAGIC } from './record-codec.js';
import type { SegmentDict } from './segment-dict.js';
import type { Segment } from './segment.js';

export interface ScanOutcome {
  /** Records lost to damage before the tail (from the gaps in the seqs, at least 1 per stretch). */
  readonly damaged: number;
  /** Offset after the last intact record: the file is cut here. */
  readonly validEnd: number;
}

/**
 * Offset of the first intact unit in `buf[from, end)` whose seq is in [minSeq, bound),
 * or -1. Candidates are found by their magic byte, then proven by the checksum.
 */
export function findNextFrame(buf: Buffer, from: number, end: number, minSeq: number, bound: number): number {
  let j = from;
  while (j < end) {
    j = buf.indexOf(MAGIC, j);
    if (j < 0 || j >= end) return -1;
    const r = checkUnit(buf, j, end);
    if (r > 0) {
      const s = unitSeq(buf, j);
      if (s >= minSeq && s < bound) return j;
    }
    j++;
  }
  return -1;
}

/**
 * Scans `buf` (a whole segment file) into `seg`: notes each intact unit and each damaged
 * range, and the dictionary entries the blocks define into `dict` when given. `bound` is the
 * first seq that cannot belong here (the next segment's first seq).
 */
export function scanSegment(buf: Buffer, seg: Segment, bound: number, dict?: SegmentDict): ScanOutcome {
  const end = buf.length;
  let pos = 0;
  let expected = seg.firstSeq;
  let validEnd = 0;
  let damaged = 0;
  while (pos < end) {
    const r = checkUnit(buf, pos, end);
    if (r > 0) {
      const s = unitSeq(buf, pos);
      const n = unitCount(buf, pos);
      if (s >= expected && s + n <= bound && unitWellFormed(buf, pos, r, dict)) {
        seg.noteUnit(s, n, pos, r, unitDefines(buf, pos));
        expected = s + n;
        pos += r;
        validEnd = pos;
        continue;
      }
    }
    const next = findNextFrame(buf, pos + 1, end, expected, bound);
    if (next < 0) break;
    damaged += Math.max(1, unitSeq(buf, next) - expected);
    seg.noteSkip(pos, next);
    pos = next;
  }
  return { damaged, validEnd };
}

/** Reads the unit's definitions into `dict` (when given); false when the block is malformed despite its checksum. */
function unitWellFormed(buf: Buffer, pos: number, len: number, dict: SegmentDict | undefined): boolean {
  if (dict === undefined) return true;
  try {
    readDefines(buf, pos, len, dict);
    return true;
  } catch {
    return false;
  }
}
