/**
 * What the window (and throttle) operators must know after a restart to decide exactly as
 * the run before it did, saved with the output's cursor.
 *
 * A restart feeds the journal from the cursor C through a fresh pipeline. Whether a
 * reading is late depends on its series' newest event time so far (the watermark), which
 * records before C may have set; and since the cursor may stop inside the seq range of a
 * window already written (the range lo..hi of its readings), the readings of that window
 * at or after C must not build it again. So for each window operator the state AS OF C
 * (after records < C, before C) is kept:
 *
 * - per series: its newest event time and the stream-clock time of its last reading (so a
 *   restart forgets the series where the run before did, after `idle`);
 * - the windows already written whose readings reach C or beyond: series, start, hi. A
 *   reading with seq <= hi for such a window was part of it (skipped); a later one is late.
 *
 * Windows with all their readings at or after C are rebuilt by the replay; windows with
 * all of them before C are written (the cursor only passes a point once written). With
 * that state the replay makes every decision the run before made, so it writes the same
 * points (proof sketch: docs/replay.md).
 *
 * The state as of C is found from a log of (position, series, newest time, clock) per
 * reading, folded into the base map when the cursor reaches past the entry (`committed`):
 * the log holds the readings between the cursor and the drain's read position, which the
 * drain bounds (it reads only while its output has room). The position is the journal
 * record being fed (`feeding`), not the reading's own seq: an operator after another one
 * (a window after a throttle) gets points carrying older seqs, and points its upstream
 * emits on a timer before record r is fed, which belong to the state before r.
 *
 * Memory: the log grows only while the cursor stays behind (an open window holds it) and
 * the drain reads on. A window that never closes (a series whose event time stops moving
 * but that keeps sending) would grow it without end, so past `maxLog` entries a ledger stops
 * logging and pins the cursor where it was (`bound`): the journal then keeps the records
 * from there, as it did before the ledger existed, and the saved pair stays exact.
 */

/** Log entries per ledger before it pins the cursor (about 60 bytes each). */
export const MAX_LOG = 1 << 17;

/** One window or throttle operator's share (`ReplayState.ledger`); for throttle, `max` is the current bucket's start. */
export class WindowLedger {
  // The log, as parallel arrays from `head` (entries of readings past the last fold).
  private seqs: number[] = [];
  private keys: string[] = [];
  private maxes: bigint[] = [];
  private ats: number[] = [];
  private head = 0;
  /** Per series as of the last fold: newest event time (ns) and last reading's clock time (ms). */
  private readonly base = new Map<string, { max: bigint; at: number }>();
  private newestAt = -Infinity;
  /** Windows written whose readings may reach past the cursor: series, start (ns), lo, hi seqs. */
  private closed: { key: string; start: bigint; lo: number; hi: number }[] = [];
  /** From the saved state, consulted (and emptied) as series show up again after a restart. */
  private readonly pending = new Map<string, { max: bigint; at: number; written: Map<number, number> | undefined }>();

  /** The log outgrew `maxLog`: nothing is logged any more, the cursor stays where it is. */
  overflowed = false;

  constructor(
    private readonly idleMs: number,
    private readonly position: () => number,
    private readonly maxLog = MAX_LOG,
  ) {}

  /** A reading of series `key` was taken (while the current record is fed); the series' newest time is now `max`, the clock `at`. */
  seen(key: string, max: bigint, at: number): void {
    if (this.overflowed) return;
    if (this.seqs.length - this.head >= this.maxLog) {
      this.overflowed = true;
      this.seqs = [];
      this.keys = [];
      this.maxes = [];
      this.ats = [];
      this.head = 0;
      return;
    }
    this.seqs.push(this.position());
    this.keys.push(key);
    this.maxes.push(max);
    this.ats.push(at);
  }

  /** A window of `key` starting at `start` was written from readings `lo..hi`. */
  written(key: string, start: bigint, lo: number, hi: number): void {
    // Overflowed: the cursor stays below every window still open then, so none of the
    // windows closing from now on can hold readings from before it.
    if (hi > lo && !this.overflowed) this.closed.push({ key, start, lo, hi });
  }

  /**
   * What the run before knew of a series new to this run, once: its newest time and the
   * written windows (start as a number → hi) whose readings it must skip; undefined when
   * nothing was saved or the run before had forgotten the series by `now` (idle).
   */
  resume(key: string, now: number): { max: bigint; written: Map<number, number> | undefined } | undefined {
    if (this.pending.size === 0) return undefined;
    const p = this.pending.get(key);
    if (p === undefined) return undefined;
    this.pending.delete(key);
    return p.at + this.idleMs <= now ? undefined : p;
  }

  /** The cursor moved to `cursor`: fold the log up to it, forget written windows wholly before it. */
  fold(cursor: number): void {
    if (this.overflowed) return;
    const { seqs } = this;
    let i = this.head;
    const n = seqs.length;
    while (i < n && (seqs[i] as number) < cursor) {
      const at = this.ats[i] as number;
      this.base.set(this.keys[i] as string, { max: this.maxes[i] as bigint, at });
      if (at > this.newestAt) this.newestAt = at;
      i++;
    }
    if (i === n) {
      this.seqs = [];
      this.keys = [];
      this.maxes = [];
      this.ats = [];
      this.head = 0;
    } else if (i > 4096 && i > n >>> 1) {
      this.seqs = seqs.slice(i);
      this.keys = this.keys.slice(i);
      this.maxes = this.maxes.slice(i);
      this.ats = this.ats.slice(i);
      this.head = 0;
    } else this.head = i;
    if (this.closed.length > 0) this.closed = this.closed.filter((w) => w.hi >= cursor);
  }

  /** The state as of `cursor` (the last fold), as plain data. */
  save(cursor: number): SavedLedger {
    this.fold(cursor); // what a timer did before record `cursor` was fed, after the commit
    const series: [string, string, number][] = [];
    for (const [key, s] of this.base) {
      // Forgotten by the run for being idle: a restart would forget it at once.
      if (s.at + this.idleMs <= this.newestAt) this.base.delete(key);
      else series.push([key, String(s.max), s.at]);
    }
    const written: [string, string, number][] = [];
    for (const w of this.closed) if (w.lo < cursor && w.hi >= cursor) written.push([w.key, String(w.start), w.hi]);
    return { series, written };
  }

  /** Takes the saved state back (before the first reading of a restarted run). */
  // (An overflowed ledger saves the state as of the cursor it pinned: still exact.)
  load(saved: SavedLedger): void {
    for (const [key, max, at] of saved.series) {
      const m = BigInt(max);
      this.base.set(key, { max: m, at });
      this.pending.set(key, { max: m, at, written: undefined });
      if (at > this.newestAt) this.newestAt = at;
    }
    for (const [key, start, hi] of saved.written) {
      this.closed.push({ key, start: BigInt(start), lo: -1, hi });
      const p = this.pending.get(key);
      if (p !== undefined) (p.written ??= new Map()).set(Number(BigInt(start)), hi);
    }
  }

  /** Log entries waiting for the cursor (for tests and metrics). */
  get logged(): number {
    return this.seqs.length - this.head;
  }
}

export interface SavedLedger {
  /** [series key, newest event time ns, clock ms of its last reading]. */
  readonly series: readonly (readonly [string, string, number])[];
  /** [series key, window start ns, hi seq]. */
  readonly written: readonly (readonly [string, string, number])[];
}

interface Saved {
  readonly v: 1;
  readonly cursor: number;
  readonly ops: Readonly<Record<string, SavedLedger>>;
}

/** The ledgers of one pipeline (one output's drain), saved and restored as one text. */
export class ReplayState {
  private readonly ledgers = new Map<string, WindowLedger>();
  private restored: Saved | undefined;
  private cursor = 0;

  constructor(private readonly maxLog = MAX_LOG) {}
  /** The journal record being fed (or last fed: a timer firing before the next one belongs to the state before it). */
  private position = -1;
  private readonly positionOf = () => this.position;

  /** The ledger of the window operator `key` (its place in the config and its options). */
  ledger(key: string, idleMs: number): WindowLedger {
    let l = this.ledgers.get(key);
    if (l === undefined) {
      l = new WindowLedger(idleMs, this.positionOf, this.maxLog);
      this.ledgers.set(key, l);
      const saved = this.restored?.ops[key];
      if (saved !== undefined) l.load(saved);
    }
    return l;
  }

  /**
   * Takes a saved state for a run starting at `cursor` (before the operators subscribe).
   * False (and nothing taken) when the text is not a saved state, or belongs to a later cursor.
   */
  restore(text: string, cursor: number): boolean {
    this.cursor = cursor;
    this.position = cursor - 1;
    let saved: unknown;
    try {
      saved = JSON.parse(text);
    } catch {
      return false;
    }
    if (!isSaved(saved) || saved.cursor > cursor) return false;
    this.restored = saved;
    return true;
  }

  /** The drain is about to feed record `seq` (after moving the clock to its arrival). */
  feeding(seq: number): void {
    this.position = seq;
  }

  /** The highest cursor <= `candidate` the ledgers allow: the committed one once a ledger overflowed. */
  bound(candidate: number): number {
    for (const l of this.ledgers.values()) if (l.overflowed) return Math.min(candidate, this.cursor);
    return candidate;
  }

  /** The output committed `cursor`. */
  committed(cursor: number): void {
    if (cursor <= this.cursor) return;
    this.cursor = cursor;
    for (const l of this.ledgers.values()) l.fold(cursor);
  }

  /** The state as of the last committed cursor, as text. */
  snapshot(): string {
    const ops: Record<string, SavedLedger> = {};
    for (const [key, l] of this.ledgers) ops[key] = l.save(this.cursor);
    const saved: Saved = { v: 1, cursor: this.cursor, ops };
    return JSON.stringify(saved);
  }

  /** Log entries waiting for the cursor, over all ledgers. */
  get logged(): number {
    let n = 0;
    for (const l of this.ledgers.values()) n += l.logged;
    return n;
  }
}

function isSaved(x: unknown): x is Saved {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<Saved>;
  if (s.v !== 1 || !Number.isSafeInteger(s.cursor) || typeof s.ops !== 'object' || s.ops === null) return false;
  for (const l of Object.values(s.ops)) {
    if (!Array.isArray(l.series) || !Array.isArray(l.written)) return false;
    for (const e of [...l.series, ...l.written]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !/^-?\d+$/.test(e[1]) || !Number.isFinite(e[2])) return false;
    }
  }
  return true;
}
