/**
 * The readings the ingest decoded for the newest journal records, keyed by seq, so that a
 * drain keeping up with the head does not decode each message a second time (the ingest
 * decodes once to refuse bad input before it is journaled). A fixed ring: a seq maps to
 * slot `seq % size`, and a slot answers only for the seq it holds; drains that are behind
 * (a replay, an output back from an outage) decode from the journal instead. Sound because
 * decoding is deterministic: the journal keeps the arrival time the decoder used.
 *
 * A slot lets go of its readings once each of the `consumers` drains has taken them, so
 * that they die young in the V8 heap instead of being promoted while they wait in the
 * ring for their slot to come round again.
 */
import type { Reading } from '../types.js';

export class DecodedCache {
  private readonly seqs: Float64Array;
  private readonly readings: (readonly Reading[] | undefined)[];
  /** Takes left per slot before it lets go of its readings. */
  private readonly left: Uint16Array;

  constructor(
    private readonly consumers = 1,
    private readonly size = 4096,
  ) {
    if (!(consumers >= 1 && consumers <= 0xffff)) throw new RangeError(`decoded cache: consumers must be 1..65535, got ${consumers}`);
    this.seqs = new Float64Array(size).fill(-1);
    this.readings = new Array<readonly Reading[] | undefined>(size);
    this.left = new Uint16Array(size);
  }

  put(seq: number, readings: readonly Reading[]): void {
    const i = seq % this.size;
    this.seqs[i] = seq;
    this.readings[i] = readings;
    this.left[i] = this.consumers;
  }

  /** The readings of `seq` for one consumer; after the last consumer took them the slot is empty. */
  take(seq: number): readonly Reading[] | undefined {
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
