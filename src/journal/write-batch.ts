/**
 * The records staged for the journal's next write(2): the entries, kept as given until
 * `encode` turns them into blocks (against the active segment's dictionary, so a rotation
 * between stage and flush cannot leave a block naming another segment's entries), into one
 * reusable buffer, grown on demand (a rare huge record does not pin a huge buffer: past
 * `keptBytes` it is let go at `clear`).
 */
import { BLOCK_FIXED_MAX, encodeBlocks, maxBlockOverhead, maxEntryBytes, type BlockSink } from './block-codec.js';
import type { JournalEntry } from './journal.js';
import type { SegmentDict } from './segment-dict.js';

const INITIAL_BYTES = 256 * 1024;
const INITIAL_RECORDS = 1024;

export class WriteBatch implements BlockSink {
  buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  /** Bytes encoded. */
  len = 0;
  /** Length and record count of each encoded block, in order. */
  readonly unitLens: number[] = [];
  readonly unitCounts: number[] = [];
  srcIds = new Uint32Array(INITIAL_RECORDS);
  topicIds = new Uint32Array(INITIAL_RECORDS);
  /** The staged entries, in seq order. */
  readonly entries: JournalEntry[] = [];
  /** Bytes staged, about (a format-1 frame's size: more than a block needs). */
  estimate = 0;
  /** Whether a staged record must be fsynced (not every one is `unsynced`). */
  needsSync = false;

  constructor(private readonly keptBytes = 4 * 1024 * 1024) {}

  get count(): number {
    return this.entries.length;
  }

  add(entry: JournalEntry, estimate: number): void {
    this.entries.push(entry);
    this.estimate += estimate;
    if (entry.unsynced !== true) this.needsSync = true;
  }

  /** Encodes the staged entries (seqs from `firstSeq`) as blocks, defining new strings in `dict`. */
  encode(firstSeq: number, dict: SegmentDict): void {
    const n = this.entries.length;
    // Worst case: every record in a block of its own; a new string defined and stated again.
    let bound = maxBlockOverhead(dict);
    for (const e of this.entries) bound += maxEntryBytes(e) + BLOCK_FIXED_MAX;
    if (bound > this.buf.length) this.buf = Buffer.allocUnsafeSlow(Math.max(bound, this.buf.length * 2));
    if (n > this.srcIds.length) {
      this.srcIds = new Uint32Array(Math.max(n, this.srcIds.length * 2));
      this.topicIds = new Uint32Array(this.srcIds.length);
    }
    this.len = 0;
    this.unitLens.length = 0;
    this.unitCounts.length = 0;
    encodeBlocks(this.entries, firstSeq, dict, this);
  }

  clear(): void {
    this.len = 0;
    this.estimate = 0;
    this.entries.length = 0;
    this.unitLens.length = 0;
    this.unitCounts.length = 0;
    this.needsSync = false;
    if (this.buf.length > this.keptBytes) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  }
}
