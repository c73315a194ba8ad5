/**
 * A scheduler whose time is the data's arrival time, for the shaping stage of a drain.
 *
 * Operators close windows and debounced readings of quiet series on scheduler time. On the
 * wall clock that is not replay-safe: while a drain replays a backlog, or waits for an
 * output with room, wall time runs on and would close windows whose readings are still
 * in the journal (to be dropped as late, or to rebuild a partial window over a written
 * point). A `StreamClock` only moves when told: the drain advances it to each journal
 * record's arrival time (`receivedAt`) before feeding the record, and, while it is caught
 * up and waiting at the head, to the wall clock minus a small margin (so a record
 * appended but not yet read is still "in the future"). A replay then fires every timer at
 * the same place in the stream as the live run did.
 */
import { VirtualAction, VirtualTimeScheduler } from '../util/rx.js';

export class StreamClock extends VirtualTimeScheduler {
  /** `startMs`: the clock's time until the first `advanceTo` (e.g. the first record's arrival). */
  constructor(startMs = 0) {
    super(VirtualAction, Infinity);
    this.frame = startMs;
  }

  /** Moves time forward to `ms` (never back), running every action due by then, in order. */
  advanceTo(ms: number): void {
    if (!(ms > this.frame)) return;
    this.maxFrames = ms;
    try {
      this.flush();
    } finally {
      this.maxFrames = Infinity;
      this.frame = ms;
    }
  }

  /** Actions waiting (for tests and metrics). */
  get pending(): number {
    return this.actions.length;
  }
}
