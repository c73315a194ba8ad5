/**
 * The readings the ingest decoded for the newest journal records, keyed by seq, so that a
 * drain keeping up with the head does not decode each message a second time (the ingest
 * decodes once to refuse bad input before it is journaled). A fixed ring: a seq maps to
 * slot `seq % size`, and a slot answers only for the seq it holds; drains that are behind
 * (a replay, an output back from an outage) decode from the journal instead. Sound because
 * decoding is deterministic: the journal keeps the arrival time the decoder used.
 *
 * A slot lets go of its readings once each drain that may still come for them has taken
 * them, so that they die young in the V8 heap instead of being promoted while they wait in
 * the ring for their slot to come round again. A drain more than `size` records behind the
 * head (its output is down, or it replays) cannot come for them before the slot is reused:
 * it is not waited for, and while no drain is that close, nothing is kept at all. (During an
 * outage at 2k readings/s every slot's readings used to wait ~2 s, long enough to be
 * promoted: about 1 MB/s of old-generation garbage, the RSS growth of a long outage.)
 */
import type { Reading } from '../types.js';

export class DecodedCache {
  private readonly seqs: Float64Array;
  private readonly readings: (readonly Reading[] | undefined)[];
  /** Takes left per slot before it lets go of its readings. */
  private readonly left: Uint16Array;
  /** The newest seq each consumer asked for; -1 before its first. */
  private readonly at: Float64Array;

  constructor(
    private readonly consumers = 1,
    private readonly size = 4096,
  ) {
    if (!(consumers >= 1 && consumers <= 0xffff)) throw new RangeError(`decoded cache: consumers must be 1..65535, got ${consumers}`);
    this.seqs = new Float64Array(size).fill(-1);
    this.readings = new Array<readonly Reading[] | undefined>(size);
    this.left = new Uint16Array(size);
    this.at = new Float64Array(consumers).fill(-1);
  }

  put(seq: number, readings: readonly Reading[]): void {
    const i = seq % this.size;
    let near = 0;
    for (let c = 0; c < this.consumers; c++) if (this.at[c]! < 0 || seq - this.at[c]! <= this.size) near++;
    if (near === 0) {
      // No drain can come for it: keep nothing, and let go of what the slot held.
      this.seqs[i] = -1;
      this.readings[i] = undefined;
      return;
    }
    this.seqs[i] = seq;
    this.readings[i] = readings;
    this.left[i] = near;
  }

  /**
   * The readings of `seq` for consumer `consumer` (0 … consumers - 1); after the last drain
   * that may come for them took them, the slot is empty.
   */
  take(seq: number, consumer = 0): readonly Reading[] | undefined {
    if (seq > this.at[consumer]!) this.at[consumer] = seq;
    const i = seq % this.size;
    if (this.seqs[i] !== seq) return undefined;
    const r = this.readings[i];
    if (--this.left[i]! === 0) {
      this.seqs[i] = -1;
      this.readings[i] = undefined;
    }
    return r;
  }
}
