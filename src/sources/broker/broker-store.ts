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
import { ClassicLevel } from 'classic-level';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import type { OwnerStore } from './client-ids.js';
import { withTimeout } from '../../util/timeout.js';

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

  constructor(
    private readonly location: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async open(): Promise<void> {
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

  /** aedes' persistence over the `aedes` sublevel. */
  persistence(): unknown {
    return new AsyncLevelPersistence(this.open_.sublevel('aedes'));
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

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) await withTimeout(db.close(), this.timeoutMs, 'broker: closing the broker state');
  }
}
