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
 * - per series: its newest event time, the stream-clock time of its last reading (so a
 *   restart forgets the series where the run before did, after `idle`, and remembers it
 *   as gone as long as the run before did: gone.ts); for a window step's series back from
 *   gone, also the start of the last window written as it went quiet, until its watermark
 *   passes it (those windows stay closed: the window its first reading back opened holds
 *   the cursor only until it is written, which `idle` may do before that);
 * - the windows already written whose readings reach C or beyond: series, start, hi. A
 *   reading with seq <= hi for such a window was part of it (skipped); a later one is late.
 *
 * Windows with all their readings at or after C are rebuilt by the replay; windows with
 * all of them before C are written (the cursor only passes a point once written). With
 * that state the replay makes every decision the run before made, so it writes the same
 * points (proof sketch: docs/replay.md).
 *
 * The state as of C is found from a log of (series, newest time, clock) per reading,
 * coalesced per stretch of `every` journal records (one entry per series and stretch: the
 * last), and folded into the base map when the cursor passes the stretch (`committed`).
 * The stretches start at checkpoints (`feeding`), and the cursor only stops on one
 * (`bound`): it moves in steps of at most `every` records (at once when nothing is held).
 * The stretch is found by the journal record being fed, not by the reading's own seq: an
 * operator after another one (a window after a throttle) gets points carrying older seqs,
 * and points its upstream emits on a timer before record r is fed, which belong to the
 * state before r.
 *
 * Memory: the log holds, per stretch between the cursor and the read position, one entry
 * per series seen in it (about 100 bytes). A window that never closes (a series that keeps
 * sending with its event time stuck) would grow it without end, so past `maxLog` entries
 * a ledger stops logging and pins the cursor where it was (`bound`): the journal then
 * keeps the records from there, as it did before the ledger existed, and the saved pair
 * stays exact.
 */

/** Log entries per ledger before it pins the cursor. */
export const MAX_LOG = 1 << 17;
/** Records per stretch of the log at first (the cursor's step; thinning makes older stretches longer). */
export const CHECKPOINT_EVERY = 1;
/** Stretches kept between the cursor and the read position; past it, every other one is merged into the one before. */
export const MAX_STRETCHES = 512;

interface Entry {
  max: bigint;
  at: number;
  /** A window step's series back from gone: windows starting at or before this are closed beyond its watermark (see `seen`). */
  floor: bigint | undefined;
}

/** What `resume` tells of a series the run before knew. */
export interface Resumed {
  readonly max: bigint;
  /** The run before had forgotten the series for being idle (it is gone: gone.ts) … */
  readonly gone: boolean;
  /** … and remembers it until this processing time. */
  readonly until: number;
  /** Not gone, but back from gone: the floor it came back with (see `seen`). */
  readonly floor: bigint | undefined;
  /** Written windows (start as a number → hi seq) whose readings up to hi are skipped. */
  readonly written: Map<number, number> | undefined;
}

/** One window or throttle operator's share (`ReplayState.ledger`); for throttle, `max` is the current bucket's start. */
export class WindowLedger {
  /** The log: per stretch (from checkpoint `pos`), the last entry of each series seen in it. */
  private stretches: { readonly pos: number; readonly entries: Map<string, Entry> }[] = [];
  private entries = 0;
  /** Per series as of the last fold: newest event time (ns) and last reading's clock time (ms). */
  private readonly base = new Map<string, Entry>();
  private newestAt = -Infinity;
  /** Windows written whose readings may reach past the cursor: series, start (ns), lo, hi seqs. */
  private closed: { key: string; start: bigint; lo: number; hi: number }[] = [];
  /** From the saved state, consulted (and emptied) as series show up again after a restart. */
  private readonly pending = new Map<string, { max: bigint; at: number; floor: bigint | undefined; written: Map<number, number> | undefined }>();

  /** The log outgrew `maxLog`: nothing is logged any more, the cursor stays where it is. */
  overflowed = false;

  /**
   * `idleMs`: the step forgets a series after this; `memoryMs`: and remembers it as gone
   * for this long after; `maxGone`: at most this many gone series (the step's cap).
   */
  constructor(
    private readonly idleMs: number,
    private readonly memoryMs: number,
    private readonly maxGone: number,
    private readonly checkpoint: () => number,
    private readonly maxLog = MAX_LOG,
  ) {}

  /**
   * A reading of series `key` was taken (while the current record is fed); the series'
   * newest time is now `max`, the clock `at`. `floor`: a window step's series that came
   * back from gone and whose watermark has not yet passed the windows written as it went
   * quiet: the start of the last of them (a restart closes them too: the window its first
   * reading back opened may have been written since, by idle, and let the cursor past it).
   */
  seen(key: string, max: bigint, at: number, floor?: bigint): void {
    if (this.overflowed) return;
    const pos = this.checkpoint();
    let last = this.stretches.at(-1);
    if (last === undefined || last.pos !== pos) this.stretches.push((last = { pos, entries: new Map() }));
    const e = last.entries.get(key);
    if (e !== undefined) {
      e.max = max;
      e.at = at;
      e.floor = floor;
      return;
    }
    if (this.entries >= this.maxLog) {
      this.overflowed = true;
      this.stretches = [];
      this.entries = 0;
      return;
    }
    last.entries.set(key, { max, at, floor });
    this.entries++;
  }

  /** A window of `key` starting at `start` was written from readings `lo..hi`. */
  written(key: string, start: bigint, lo: number, hi: number): void {
    // Overflowed: the cursor stays below every window still open then, so none of the
    // windows closing from now on can hold readings from before it.
    if (hi > lo && !this.overflowed) this.closed.push({ key, start, lo, hi });
  }

  /**
   * What the run before knew of a series new to this run, once (see `Resumed`); undefined
   * when nothing was saved or the run before no longer remembered the series by `now`.
   */
  resume(key: string, now: number): Resumed | undefined {
    if (this.pending.size === 0) return undefined;
    const p = this.pending.get(key);
    if (p === undefined) return undefined;
    this.pending.delete(key);
    const idleAt = p.at + this.idleMs;
    const until = idleAt + this.memoryMs;
    return until <= now ? undefined : { max: p.max, gone: idleAt <= now, until, floor: p.floor, written: p.written };
  }

  /** Merges the stretches whose checkpoint is gone into the one before (`ReplayState.thin`). */
  thin(kept: ReadonlySet<number>): void {
    const out: { readonly pos: number; readonly entries: Map<string, Entry> }[] = [];
    let n = 0;
    for (const st of this.stretches) {
      const prev = out.at(-1);
      if (prev === undefined || kept.has(st.pos)) out.push(st);
      else for (const [key, e] of st.entries) prev.entries.set(key, e);
    }
    for (const st of out) n += st.entries.size;
    this.stretches = out;
    this.entries = n;
  }

  /** The cursor moved to checkpoint `cursor`: fold the stretches before it, forget written windows wholly before it. */
  fold(cursor: number): void {
    if (this.overflowed) return;
    let i = 0;
    for (; i < this.stretches.length && (this.stretches[i] as { pos: number }).pos < cursor; i++) {
      const { entries } = this.stretches[i] as { entries: Map<string, Entry> };
      for (const [key, e] of entries) {
        this.base.set(key, e);
        if (e.at > this.newestAt) this.newestAt = e.at;
      }
      this.entries -= entries.size;
    }
    if (i > 0) this.stretches.splice(0, i);
    if (this.closed.length > 0) this.closed = this.closed.filter((w) => w.hi >= cursor);
  }

  /** The state as of `cursor` (the last fold), as plain data. */
  save(cursor: number): SavedLedger {
    this.fold(cursor); // what a timer did before record `cursor` was fed, after the commit
    const series: SavedSeries[] = [];
    const gone: [string, Entry][] = [];
    for (const [key, s] of this.base) {
      const idleAt = s.at + this.idleMs;
      // No longer remembered by the run, even as gone: a restart would not know it either.
      if (idleAt + this.memoryMs <= this.newestAt) this.base.delete(key);
      else if (idleAt <= this.newestAt) gone.push([key, s]);
      else series.push(s.floor === undefined ? [key, String(s.max), s.at] : [key, String(s.max), s.at, String(s.floor)]);
    }
    // The run keeps at most maxGone gone series (the newest); past that it has lost them too.
    if (gone.length > this.maxGone) {
      gone.sort((a, b) => b[1].at - a[1].at);
      for (const [key] of gone.splice(this.maxGone)) this.base.delete(key);
    }
    for (const [key, s] of gone) series.push([key, String(s.max), s.at]);
    const written: [string, string, number][] = [];
    for (const w of this.closed) if (w.lo < cursor && w.hi >= cursor) written.push([w.key, String(w.start), w.hi]);
    return { series, written };
  }

  /** Takes the saved state back (before the first reading of a restarted run). */
  // (An overflowed ledger saves the state as of the cursor it pinned: still exact.)
  load(saved: SavedLedger): void {
    for (const [key, max, at, f] of saved.series) {
      const m = BigInt(max);
      const floor = f === undefined ? undefined : BigInt(f);
      this.base.set(key, { max: m, at, floor });
      this.pending.set(key, { max: m, at, floor, written: undefined });
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
    return this.entries;
  }
}

/** [series key, newest event time ns, clock ms of its last reading, floor ns if any (`WindowLedger.seen`)]. */
type SavedSeries = readonly [string, string, number] | readonly [string, string, number, string];

export interface SavedLedger {
  readonly series: readonly SavedSeries[];
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

  /** The journal record being fed (or last fed). */
  private position = -1;
  /** Where the current stretch of the log starts, and the checkpoints not yet passed by the cursor. */
  private checkpointPos = 0;
  private checkpoints: number[] = [0];
  private readonly checkpointOf = () => this.checkpointPos;

  constructor(
    private readonly maxLog = MAX_LOG,
    private readonly every = CHECKPOINT_EVERY,
    private readonly maxStretches = MAX_STRETCHES,
  ) {}

  /** The ledger of the window operator `key` (its place in the config and its options); the rest: see `WindowLedger`. */
  ledger(key: string, idleMs: number, memoryMs: number, maxGone: number): WindowLedger {
    let l = this.ledgers.get(key);
    if (l === undefined) {
      l = new WindowLedger(idleMs, memoryMs, maxGone, this.checkpointOf, this.maxLog);
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
    this.checkpointPos = cursor;
    this.checkpoints = [cursor];
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
    if (this.position < 0 || seq - this.checkpointPos >= this.every) this.checkpoint(seq);
    this.position = seq;
  }

  private checkpoint(pos: number): void {
    if (pos <= this.checkpointPos) return;
    this.checkpointPos = pos;
    this.checkpoints.push(pos);
    if (this.checkpoints.length > this.maxStretches) this.thin();
  }

  /** Drops every other checkpoint (never the first nor the current) and merges the ledgers' stretches to match. */
  private thin(): void {
    const cps = this.checkpoints;
    this.checkpoints = cps.filter((_, i) => i === 0 || i === cps.length - 1 || i % 2 === 0);
    const kept = new Set(this.checkpoints);
    for (const l of this.ledgers.values()) l.thin(kept);
  }

  /** The highest cursor <= `candidate` the ledgers allow: the committed one once a ledger overflowed. */
  bound(candidate: number): number {
    for (const l of this.ledgers.values()) if (l.overflowed) return Math.min(candidate, this.cursor);
    // Nothing fed at or past the candidate: a checkpoint there is as good as any.
    if (candidate > this.position) this.checkpoint(candidate);
    const cps = this.checkpoints;
    for (let i = cps.length - 1; i >= 0; i--) {
      const c = cps[i] as number;
      if (c <= candidate) return Math.max(c, Math.min(this.cursor, candidate));
    }
    return Math.min(this.cursor, candidate);
  }

  /** The output committed `cursor`. */
  committed(cursor: number): void {
    if (cursor <= this.cursor) return;
    this.cursor = cursor;
    let i = 0;
    while (i < this.checkpoints.length - 1 && (this.checkpoints[i + 1] as number) <= cursor) i++;
    if (i > 0) this.checkpoints.splice(0, i);
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
    for (const e of l.series) if (e.length > 4 || (e.length === 4 && (typeof e[3] !== 'string' || !/^-?\d+$/.test(e[3])))) return false;
  }
  return true;
}
