/**
 * Consumer cursors persisted in LevelDB (classic-level): one key per consumer,
 * `cursor:<id>` → the next seq it needs, as decimal text, and optionally `state:<id>` →
 * the consumer's state as of that cursor (written in the same atomic batch). LevelDB's
 * lock file also keeps a second process from opening the same journal directory.
 */
import { ClassicLevel } from 'classic-level';
import { withTimeout } from '../util/timeout.js';

const PREFIX = 'cursor:';
const STATE = 'state:';

export interface StoredCursors {
  readonly cursors: Map<string, number>;
  readonly states: Map<string, string>;
}

export class CursorStore {
  private db: ClassicLevel<string, string> | undefined;

  constructor(
    private readonly location: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Opens the database and returns every stored cursor and state. */
  async open(): Promise<StoredCursors> {
    // A handful of keys, overwritten often: LevelDB's defaults (an 8 MiB block cache, a 4 MiB
    // memtable that every overwrite grows until it is flushed, two of them at times) would
    // hold megabytes of native memory for a few hundred bytes of data.
    const db = new ClassicLevel<string, string>(this.location, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
      cacheSize: 64 * 1024,
      writeBufferSize: 64 * 1024,
    });
    await withTimeout(db.open(), this.timeoutMs, 'journal: opening the cursor database');
    this.db = db;
    const cursors = new Map<string, number>();
    for await (const [key, value] of db.iterator({ gte: PREFIX, lt: PREFIX.slice(0, -1) + ';' })) {
      const n = Number(value);
      if (Number.isSafeInteger(n) && n >= 0) cursors.set(key.slice(PREFIX.length), n);
    }
    const states = new Map<string, string>();
    for await (const [key, value] of db.iterator({ gte: STATE, lt: STATE.slice(0, -1) + ';' })) states.set(key.slice(STATE.length), value);
    return { cursors, states };
  }

  /** Writes `puts` (cursors) and `states`, removes `dels` (cursor and state), in one atomic batch. */
  async save(puts: ReadonlyMap<string, number>, dels: Iterable<string>, states: ReadonlyMap<string, string> = new Map()): Promise<void> {
    const db = this.db;
    if (!db) throw new Error('cursor store is not open');
    const ops: ({ type: 'put'; key: string; value: string } | { type: 'del'; key: string })[] = [];
    for (const id of dels) ops.push({ type: 'del', key: PREFIX + id }, { type: 'del', key: STATE + id });
    for (const [id, seq] of puts) ops.push({ type: 'put', key: PREFIX + id, value: String(seq) });
    for (const [id, state] of states) ops.push({ type: 'put', key: STATE + id, value: state });
    if (ops.length > 0) await withTimeout(db.batch(ops), this.timeoutMs, 'journal: saving cursors');
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) await withTimeout(db.close(), this.timeoutMs, 'journal: closing the cursor database');
  }
}
