/**
 * The readings the ingest decoded for the newest journal records, keyed by seq, so that a
 * drain keeping up with the head does not decode each message a second time (the ingest
 * decodes once to refuse bad input before it is journaled). A fixed ring: a seq maps to
 * slot `seq % size`, and a slot answers only for the seq it holds; drains that are behind
 * (a replay, an output back from an outage) decode from the journal instead. Sound because
 * decoding is deterministic: the journal keeps the arrival time the decoder used.
 */
import type { Reading } from '../types.js';

export class DecodedCache {
  private readonly seqs: Float64Array;
  private readonly readings: (readonly Reading[] | undefined)[];

  constructor(private readonly size = 4096) {
    this.seqs = new Float64Array(size).fill(-1);
    this.readings = new Array<readonly Reading[] | undefined>(size);
  }

  put(seq: number, readings: readonly Reading[]): void {
    const i = seq % this.size;
    this.seqs[i] = seq;
    this.readings[i] = readings;
  }

  get(seq: number): readonly Reading[] | undefined {
    const i = seq % this.size;
    return this.seqs[i] === seq ? this.readings[i] : undefined;
  }
}
