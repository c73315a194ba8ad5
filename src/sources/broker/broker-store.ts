/**
 * The embedded broker's state on disk: one LevelDB (classic-level, the store the journal
 * already uses for its cursors) under `<spool dir>/broker`, with sublevels
 *   owners   client id ownership key → username (client-ids.ts)
 *   aedes    aedes' persistence (aedes-persistence-level): retained messages, persistent
 *            sessions' subscriptions, their queued QoS 1 messages, wills
 *   retained topic → "<owner>\0<bytes>" of each retained message, for the limits
 *            (retained-limits.ts)
 * LevelDB writes reach the OS before their promise resolves (its log is appended with
 * write(2)), so they survive `kill -9`; power loss may cost the latest ones.
 */
import { Readable } from 'node:stream';
import { ClassicLevel } from 'classic-level';
import { loadLevelPersistence, PERSISTENCE_STREAM_METHODS, sameShapeAs, type AedesPersistence } from './aedes-internals.js';
import type { OwnerStore } from './client-ids.js';
import { settlesWithin, withTimeout } from '../../util/timeout.js';

export interface RetainedEntry {
  readonly owner: string;
  readonly bytes: number;
}

export interface RetainedIndexStore {
  load(): Promise<[topic: string, entry: RetainedEntry][]>;
  put(topic: string, entry: RetainedEntry): Promise<void>;
  del(topic: string): Promise<void>;
}

export class BrokerStore {
  private db: ClassicLevel<string, string> | undefined;
  private newPersistence: ((db: unknown) => AedesPersistence) | undefined;
  /** Calls of aedes' persistence under way (`close()` lets them finish). */
  private readonly calls = new Set<Promise<unknown>>();
  /** The database is closing or closed: aedes' calls are no longer answered. */
  private closed = false;

  constructor(
    private readonly location: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async open(): Promise<void> {
    this.newPersistence ??= await loadLevelPersistence();
    // Small caches: the state is small (bounded retained bytes, bounded queues).
    const db = new ClassicLevel<string, string>(this.location, {
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
      cacheSize: 256 * 1024,
      writeBufferSize: 256 * 1024,
    });
    await withTimeout(db.open(), this.timeoutMs, 'broker: opening the broker state');
    this.db = db;
  }

  private get open_(): ClassicLevel<string, string> {
    if (!this.db) throw new Error('broker state store is not open');
    return this.db;
  }

  /**
   * aedes' persistence over the `aedes` sublevel, guarded for the stop. aedes goes on with its
   * work after `Aedes.close()` and after the sockets are gone: a QoS 1 message is PUBACKed
   * first and queued for the away sessions after, a CONNECT caught half-way still deletes its
   * will and reads its queue. So `close()` waits until no call is under way (the steps of a
   * piece of work follow each other within a turn of the event loop), and a call that comes
   * after the database closed gets an answer that never comes (a promise) or nothing (a
   * stream): the broker is stopped, nobody waits for it, and that work ends there. The closed
   * database's rejection would reach aedes steps that do not catch it (its will step: an
   * unhandled rejection, which exits the daemon with 1).
   */
  persistence(): AedesPersistence {
    const db = this.open_;
    const over = this.newPersistence;
    if (!over) throw new Error('broker state store is not open');
    const inner = over(db.sublevel('aedes'));
    // Each method wrapped once (a QoS 1 publish calls two): again only when it was replaced (bounded-queues.ts).
    const wrapped = new Map<PropertyKey, { readonly of: unknown; readonly fn: unknown }>();
    return new Proxy<AedesPersistence>(inner, {
      get: (target, key) => {
        const v: unknown = Reflect.get(target, key);
        if (typeof v !== 'function' || key === 'constructor') return v;
        const known = wrapped.get(key);
        if (known?.of === v) return known.fn;
        const method = v as (...a: unknown[]) => unknown;
        // An async method stays one (aedes checks that `setup` is).
        const fn = sameShapeAs(method, (args) => this.call(key, () => method.apply(target, args)));
        wrapped.set(key, { of: v, fn });
        return fn;
      },
    });
  }

  private call(method: PropertyKey, run: () => unknown): unknown {
    if (this.closed) return PERSISTENCE_STREAM_METHODS.has(method) ? Readable.from([]) : new Promise(() => undefined);
    const answer = run();
    if (answer instanceof Promise) {
      const settled: Promise<unknown> = answer.then(
        () => this.calls.delete(settled),
        () => this.calls.delete(settled),
      );
      this.calls.add(settled);
    }
    return answer;
  }

  owners(): OwnerStore {
    const sub = this.open_.sublevel<string, string>('owners', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    return {
      load: async () => {
        const out: [string, string][] = [];
        for await (const [k, v] of sub.iterator()) out.push([k, v]);
        return out;
      },
      put: (key, owner) => withTimeout(sub.put(key, owner), this.timeoutMs, 'broker: saving a client id owner'),
      del: (key) => withTimeout(sub.del(key), this.timeoutMs, 'broker: forgetting a client id owner'),
    };
  }

  retainedIndex(): RetainedIndexStore {
    const sub = this.open_.sublevel<string, string>('retained', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    return {
      load: async () => {
        const out: [string, RetainedEntry][] = [];
        for await (const [topic, v] of sub.iterator()) {
          const sep = v.lastIndexOf('\0');
          out.push([topic, { owner: v.slice(0, sep), bytes: Number(v.slice(sep + 1)) || 0 }]);
        }
        return out;
      },
      put: (topic, e) => withTimeout(sub.put(topic, `${e.owner}\0${e.bytes}`), this.timeoutMs, 'broker: saving a retained entry'),
      del: (topic) => withTimeout(sub.del(topic), this.timeoutMs, 'broker: removing a retained entry'),
    };
  }

  /**
   * Waits (bounded) until aedes has no call under way, also after a turn of the event loop
   * (its next step may follow), then closes the database; later calls are not answered
   * (see `persistence()`).
   */
  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await settlesWithin(this.quiet(), this.timeoutMs);
    this.closed = true;
    if (db) await withTimeout(db.close(), this.timeoutMs, 'broker: closing the broker state');
  }

  /** Resolves once no call is under way, nor started within a turn of the event loop after. */
  private async quiet(): Promise<void> {
    for (;;) {
      while (this.calls.size > 0) await Promise.all([...this.calls]);
      await new Promise((r) => setImmediate(r));
      if (this.calls.size === 0) return;
    }
  }
}
