/**
 * The consumers of a FileJournal and their cursors (the next seq each needs). Moves are
 * in memory at once and saved to the CursorStore `flushMs` after a move (no timer runs
 * while nothing moved) and on close, never beyond `syncedHead()` (what the data files
 * have fsynced; a move past it is saved once the data is synced, `dataSynced()`): after a crash a cursor may be
 * slightly behind, never ahead of the data. Cursors found in the store wait, without
 * holding any segment, until their consumer is added again.
 *
 * A consumer with a state source has its state saved with its cursor, in the same batch;
 * the state belongs to that exact cursor, so such a cursor is saved only once it is within
 * the fsynced data (until then the pair saved before stands). A state grows with the
 * series (about 100 bytes each: 1 MB at 10,000), so pairs are saved at most every
 * `STATE_EVERY_FLUSHES` flushes (1 s at the default 200 ms) and on close: a crash replays
 * that much more.
 */
import type { Logger } from '../observe/logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import type { CursorStore } from './cursor-store.js';

/** A consumer with a state has its pair saved on every this many flushes. */
const STATE_EVERY_FLUSHES = 5;

export class ConsumerCursors {
  private readonly active = new Map<string, number>();
  private stored = new Map<string, number>();
  private storedStates = new Map<string, string>();
  private readonly sources = new Map<string, () => string>();
  private flushes = 0;
  private readonly removed = new Set<string>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  /** A cursor is ahead of the fsynced data: saved up to it now, the rest after `dataSynced()`. */
  private waitingForSync = false;
  /** What the store holds for each active consumer (a save that would change nothing is skipped). */
  private readonly saved = new Map<string, number>();
  /** What the store holds for each active consumer, also when it was loaded and not saved since (for `savedCursor`). */
  private readonly onDisk = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private readonly errorLimit = new RateLimiter(60_000);

  constructor(
    private readonly store: CursorStore,
    private readonly flushMs: number,
    private readonly logger: Logger,
    private readonly syncedHead: () => number,
  ) {}

  /** Opens the store and loads what it holds; returns the highest stored cursor (0 if none). */
  async load(): Promise<number> {
    const { cursors, states } = await this.store.open();
    this.stored = cursors;
    this.storedStates = states;
    let max = 0;
    for (const c of this.stored.values()) max = Math.max(max, c);
    return max;
  }

  /** Starts the periodic save; stored cursors beyond `head` (data lost since) are pulled back to it. */
  start(head: number): void {
    for (const [id, c] of this.stored) if (c > head) this.stored.set(id, head);
    this.started = true;
    this.arm();
  }

  /** The data files were fsynced further: cursors held back by them may be saved now. */
  dataSynced(): void {
    if (!this.waitingForSync) return;
    this.dirty = true;
    this.arm();
  }

  private arm(): void {
    if (!this.dirty || !this.started || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  get size(): number {
    return this.active.size;
  }

  entries(): IterableIterator<[string, number]> {
    return this.active.entries();
  }

  get(id: string): number | undefined {
    return this.active.get(id);
  }

  /** The cursor of `id` as the store holds it (what a restart resumes at), or undefined. */
  savedCursor(id: string): number | undefined {
    return this.onDisk.get(id);
  }

  /** Registers `id` at its stored cursor, kept within [oldest, head]; a new one starts at `oldest`. */
  add(id: string, oldest: number, head: number): void {
    if (this.active.has(id)) return;
    const stored = this.stored.get(id);
    if (stored !== undefined) this.onDisk.set(id, stored);
    this.active.set(id, Math.max(oldest, Math.min(stored ?? 0, head)));
    this.stored.delete(id);
    this.removed.delete(id);
    this.dirty = true;
    this.arm();
  }

  /** From now on `source()` is saved with `id`'s cursor (see the module comment). */
  setStateSource(id: string, source: () => string): void {
    this.sources.set(id, source);
    this.dirty = true;
    this.arm();
  }

  /** `id`'s state: its live source's, else what was stored with its cursor. */
  state(id: string): string | undefined {
    const source = this.sources.get(id);
    return source ? source() : this.storedStates.get(id);
  }

  remove(id: string): void {
    this.active.delete(id);
    this.sources.delete(id);
    this.storedStates.delete(id);
    this.stored.delete(id);
    this.removed.add(id);
    this.saved.delete(id);
    this.onDisk.delete(id);
    this.dirty = true;
    this.arm();
  }

  /** Moves `id` forward to `seq`; false when that is not forward. */
  advance(id: string, seq: number): boolean {
    const cur = this.active.get(id);
    if (cur === undefined || seq <= cur) return false;
    this.active.set(id, seq);
    this.dirty = true;
    this.arm();
    return true;
  }

  /** The lowest cursor of the registered consumers (MAX_SAFE_INTEGER when none). */
  min(): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (const c of this.active.values()) if (c < min) min = c;
    return min;
  }

  /** Stops the periodic save, saves everything (the data must be fsynced by now), closes the store. */
  async close(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    try {
      this.dirty = true;
      await this.save();
    } finally {
      await this.store.close();
    }
  }

  private flush(): void {
    if (this.flushing || !this.dirty) return;
    this.flushing = this.save(this.flushes++ % STATE_EVERY_FLUSHES === 0)
      .catch((err: unknown) => {
        if (this.errorLimit.take('save') >= 0) this.logger.error({ err }, 'journal: saving cursors failed; will retry');
      })
      .finally(() => {
        this.flushing = undefined;
        this.arm(); // moved meanwhile, or the save failed: again in flushMs
      });
  }

  /** Saves the cursors; those with a state source only when `withStates` (keeping them dirty otherwise). */
  private async save(withStates = true): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    this.waitingForSync = false;
    const synced = this.syncedHead();
    const puts = new Map<string, number>();
    const states = new Map<string, string>();
    for (const [id, c] of this.active) {
      if (c > synced) this.waitingForSync = true; // saved up to the fsynced data now, the rest later
      const source = this.sources.get(id);
      if (source === undefined) puts.set(id, Math.min(c, synced));
      else if (!withStates) this.dirty = true;
      else if (c <= synced) {
        puts.set(id, c);
        states.set(id, source());
      }
    }
    for (const [id, c] of puts) {
      if (this.saved.get(id) !== c) continue;
      puts.delete(id); // its state belongs to this very cursor: saved with it
      states.delete(id);
    }
    const dels = [...this.removed];
    this.removed.clear();
    if (puts.size === 0 && dels.length === 0) return; // nothing new (e.g. held back by unsynced data)
    try {
      await this.store.save(puts, dels, states);
      for (const [id, c] of puts) {
        this.saved.set(id, c);
        if (this.active.has(id)) this.onDisk.set(id, c);
      }
    } catch (err) {
      for (const id of dels) if (!this.active.has(id)) this.removed.add(id);
      this.dirty = true;
      throw err;
    }
  }
}
