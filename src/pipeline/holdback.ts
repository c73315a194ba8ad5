/**
 * What the shaping stage still owes the journal: which seqs an output may not commit past.
 *
 * Readings travel with the journal seq of the message they came from (`SeqReading`,
 * structurally the drain's `TrackedReading`). Two things stop a cursor:
 *
 * 1. **Holds.** A reading whose effect waits in operator state (an open window, a
 *    debounced reading, a throttle bucket) is held: `hold(seq)` … `release(h)`. After a
 *    crash the journal must replay it, so the cursor stays at or below the lowest hold.
 * 2. **Aggregated ranges.** A point made from several readings (a window, a throttle mean)
 *    depends on seqs `lo..hi`. Once written it must never be recomputed from a suffix of
 *    them: a replay starting at `c` with `lo < c <= hi` would rebuild the window from the
 *    readings `>= c` only and overwrite the complete point with a partial one. So a cursor
 *    must not fall inside `(lo, hi]` of any aggregate; `commitBound()` moves it down to `lo`.
 *    The lowest hold alone is not enough: another series' aggregate (its `lo` inside this
 *    range) or a raw reading waiting in a batch can pull the drain's candidate inside.
 *
 * The drain computes its candidate (next unread seq, lowest seq waiting to be written,
 * `lowestHeld()`) and commits `commitBound(candidate)`. Memory is bounded: holds are at
 * most the operators' state; ranges merge when they overlap or touch and are forgotten
 * once a bound passes them; past `MAX_RANGES` the oldest half is merged (conservative:
 * a longer replay, never a wrong point).
 */
import type { Reading } from '../types.js';

/** A reading with the journal seq of the message it came from (= tracked.ts `TrackedReading`). */
export interface SeqReading {
  readonly seq: number;
  readonly reading: Reading;
}

/** One hold on a seq; release it exactly once. */
export interface Hold {
  readonly seq: number;
}

interface HoldEntry extends Hold {
  count: number;
}

const MAX_RANGES = 4096;

export class Holdback {
  /** Holds sorted by seq; entries before `head` are gone, dead ones (count 0) are dropped lazily. */
  private holds: HoldEntry[] = [];
  private head = 0;
  private dead = 0;
  private live = 0;
  /** Disjoint aggregated ranges (lo, hi], sorted; `los[i] < his[i] < los[i+1]`. */
  private los: number[] = [];
  private his: number[] = [];

  /** Marks `seq` as held in operator state. Cheap when seqs come in order (the usual case). */
  hold(seq: number): Hold {
    this.live++;
    const n = this.holds.length;
    const tail = n > this.head ? this.holds[n - 1] : undefined;
    if (tail === undefined || seq > tail.seq) {
      const e = { seq, count: 1 };
      this.holds.push(e);
      return e;
    }
    if (tail.seq === seq) return this.revive(tail);
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.holds[mid] as HoldEntry).seq < seq) lo = mid + 1;
      else hi = mid;
    }
    const at = this.holds[lo];
    if (at !== undefined && at.seq === seq) return this.revive(at);
    const e = { seq, count: 1 };
    if (lo === this.head && this.head > 0) this.holds[--this.head] = e;
    else this.holds.splice(lo, 0, e);
    return e;
  }

  /** Ends a hold made by `hold()`. */
  release(h: Hold): void {
    const e = h as HoldEntry;
    if (!(e.count > 0)) throw new Error(`holdback: hold on seq ${h.seq} released twice`);
    this.live--;
    if (--e.count === 0) {
      this.dead++;
      if (this.dead > 64 && this.dead > this.live) this.compact();
    }
  }

  /** Readings `lo..hi` were combined into one emitted point: a replay must not start inside. */
  aggregated(lo: number, hi: number): void {
    if (!(hi > lo)) return;
    const { los, his } = this;
    const n = los.length;
    // Usual case: the new range lies after, or overlaps only, the last one.
    if (n === 0 || lo > (his[n - 1] as number)) {
      los.push(lo);
      his.push(hi);
    } else if (lo >= (los[n - 1] as number)) {
      if (hi > (his[n - 1] as number)) his[n - 1] = hi;
    } else {
      let i = 0; // first range that overlaps or touches (his[i] >= lo)
      let j = n;
      while (i < j) {
        const mid = (i + j) >>> 1;
        if ((his[mid] as number) < lo) i = mid + 1;
        else j = mid;
      }
      let k = i; // ranges i..k-1 merge with (lo, hi]
      while (k < n && (los[k] as number) <= hi) k++;
      const newLo = k > i ? Math.min(lo, los[i] as number) : lo;
      const newHi = k > i ? Math.max(hi, his[k - 1] as number) : hi;
      los.splice(i, k - i, newLo);
      his.splice(i, k - i, newHi);
    }
    if (los.length > MAX_RANGES) {
      const half = los.length >>> 1;
      his.splice(0, half - 1);
      los.splice(1, half - 1);
    }
  }

  /** The lowest held seq, or undefined when nothing is held (tracked.ts `PointPipeline.lowestHeld`). */
  lowestHeld(): number | undefined {
    const holds = this.holds;
    while (this.head < holds.length && (holds[this.head] as HoldEntry).count === 0) {
      this.head++;
      this.dead--;
    }
    if (this.head >= holds.length) {
      this.holds = [];
      this.head = 0;
      return undefined;
    }
    if (this.head > 1024 && this.head > holds.length >>> 1) {
      this.holds = holds.slice(this.head);
      this.head = 0;
    }
    return (this.holds[this.head] as HoldEntry).seq;
  }

  /**
   * The highest cursor `<= candidate` that is safe to commit: not past a hold and not
   * inside an aggregated range. The caller commits it (cursors never move back), so ranges
   * entirely below it are forgotten.
   */
  commitBound(candidate: number): number {
    let c = candidate;
    const low = this.lowestHeld();
    if (low !== undefined && low < c) c = low;
    const { los, his } = this;
    let i = 0; // ranges before i end below c
    while (i < his.length && (his[i] as number) < c) i++;
    if (i > 0) {
      los.splice(0, i);
      his.splice(0, i);
    }
    if (los.length > 0 && (los[0] as number) < c) c = los[0] as number;
    return c;
  }

  /** What `commitBound(candidate)` would return, forgetting nothing (for a caller that may lower it further). */
  peekBound(candidate: number): number {
    let c = candidate;
    const low = this.lowestHeld();
    if (low !== undefined && low < c) c = low;
    const { los, his } = this;
    let i = 0;
    while (i < his.length && (his[i] as number) < c) i++;
    if (i < los.length && (los[i] as number) < c) c = los[i] as number;
    return c;
  }

  /** Holds outstanding (for tests and metrics). */
  get held(): number {
    return this.live;
  }

  /** Aggregated ranges remembered (for tests and metrics). */
  get ranges(): number {
    return this.los.length;
  }

  private revive(e: HoldEntry): Hold {
    if (e.count === 0) this.dead--;
    e.count++;
    return e;
  }

  private compact(): void {
    this.holds = this.holds.slice(this.head).filter((e) => e.count > 0);
    this.head = 0;
    this.dead = 0;
  }
}
