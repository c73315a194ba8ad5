/**
 * Readings on their way from the journal to an output carry the journal seq of the
 * message they came from, so that the output's cursor never passes a message whose
 * readings are not written yet (see drain.ts).
 *
 * The shaping stage between decode and encode (windows, debounce, deadband…)
 * is a `PointPipeline`: an RxJS operator on tracked readings plus `lowestHeld()`, the
 * lowest seq still held in operator state (an open window). The drain does not commit
 * past it, so after a crash the journal replays exactly the readings of every window
 * that was still open, and the replayed window closes on the same point. A point made
 * from several readings (an aggregate) carries the lowest seq among them.
 */
import type { OperatorFunction } from '../util/rx.js';
import type { Reading } from '../types.js';

export interface TrackedReading {
  readonly seq: number;
  readonly reading: Reading;
  /** Which per-rule chain shapes it (compose.ts `Routing`: the index of its rule); absent: none, only the global steps. */
  readonly route?: number;
}

export interface PointPipeline {
  readonly operator: OperatorFunction<TrackedReading, TrackedReading>;
  /** The lowest seq of a reading held in operator state (neither emitted nor discarded yet), or undefined. */
  lowestHeld(): number | undefined;
  /**
   * The highest cursor ≤ `candidate` the stage allows (pipeline/holdback.ts: a cursor must
   * not fall inside the seq range of an aggregate already emitted, or a replay would
   * rebuild it from part of its readings). Absent: `candidate`.
   */
  commitBound?(candidate: number): number;
  /**
   * What a restart needs to decide like this run (pipeline/replay-state.ts), for the drain
   * to save with the cursor: `feeding(seq)` before each record's readings go in,
   * `committed(c)` after every commit of `c`, `snapshot()` the
   * state as of the last one; `restore(state, cursor)` before the first record of a run
   * starting at `cursor` (false: the text was not taken). Absent: the stage keeps none.
   */
  restore?(state: string, cursor: number): boolean;
  /** Record `seq` is fed next (after the clock moved to its arrival). */
  feeding?(seq: number): void;
  committed?(cursor: number): void;
  snapshot?(): string;
}

/** No shaping: every reading passes through as it is. */
export function passThrough(): PointPipeline {
  return { operator: (source) => source, lowestHeld: () => undefined };
}
