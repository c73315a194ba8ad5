import type { RetainedEntry, RetainedIndexStore } from './broker-store.js';

/** Bounds on what the broker keeps as retained messages (bytes = topic + payload, UTF-8). */
export interface RetainedBounds {
  /** Largest retained payload. */
  readonly maxPayloadBytes: number;
  /** Retained messages and their bytes per user (anonymous clients share one budget). */
  readonly maxPerUser: number;
  readonly maxBytesPerUser: number;
  /** Over all users. */
  readonly maxTotal: number;
  readonly maxBytesTotal: number;
}

export const DEFAULT_RETAINED_BOUNDS: RetainedBounds = {
  maxPayloadBytes: 256 * 1024,
  maxPerUser: 1000,
  maxBytesPerUser: 1024 * 1024,
  maxTotal: 10_000,
  maxBytesTotal: 10 * 1024 * 1024,
};

export type RetainedVerdict = 'ok' | 'retained_too_large' | 'retained_limit';

interface Usage {
  count: number;
  bytes: number;
}

/**
 * Who holds which retained message, and how much: checked before a retained publish is
 * acknowledged, so the broker's retained store stays within its bounds. A publish that
 * replaces a topic's retained message frees the old one's share (whoever owned it); a
 * zero-length one clears it and is always allowed. Kept in the broker's state store when
 * there is one, so the bounds hold across restarts.
 */
export class RetainedLimits {
  private readonly entries = new Map<string, RetainedEntry>();
  private readonly users = new Map<string, Usage>();
  private readonly total: Usage = { count: 0, bytes: 0 };

  constructor(
    private readonly bounds: RetainedBounds,
    private readonly store?: RetainedIndexStore,
  ) {}

  async load(): Promise<void> {
    if (!this.store) return;
    for (const [topic, e] of await this.store.load()) this.set(topic, e);
  }

  /** Whether `owner` may retain `payloadBytes` on `topic` now. */
  check(owner: string, topic: string, payloadBytes: number): RetainedVerdict {
    if (payloadBytes === 0) return 'ok';
    const b = this.bounds;
    if (payloadBytes > b.maxPayloadBytes) return 'retained_too_large';
    const bytes = Buffer.byteLength(topic) + payloadBytes;
    const old = this.entries.get(topic);
    const mine = this.users.get(owner) ?? { count: 0, bytes: 0 };
    const freedMine = old !== undefined && old.owner === owner ? old : undefined;
    const userCount = mine.count + 1 - (freedMine ? 1 : 0);
    const userBytes = mine.bytes + bytes - (freedMine?.bytes ?? 0);
    const totalCount = this.total.count + 1 - (old ? 1 : 0);
    const totalBytes = this.total.bytes + bytes - (old?.bytes ?? 0);
    if (userCount > b.maxPerUser || userBytes > b.maxBytesPerUser || totalCount > b.maxTotal || totalBytes > b.maxBytesTotal) return 'retained_limit';
    return 'ok';
  }

  /** Records an accepted retained publish (a zero-length one clears the topic). */
  accept(owner: string, topic: string, payloadBytes: number, onStoreError: (err: unknown) => void): void {
    if (payloadBytes === 0) {
      if (this.remove(topic)) this.store?.del(topic).catch(onStoreError);
      return;
    }
    const entry = { owner, bytes: Buffer.byteLength(topic) + payloadBytes };
    this.set(topic, entry);
    this.store?.put(topic, entry).catch(onStoreError);
  }

  usage(owner?: string): { count: number; bytes: number } {
    const u = owner === undefined ? this.total : this.users.get(owner);
    return { count: u?.count ?? 0, bytes: u?.bytes ?? 0 };
  }

  private set(topic: string, e: RetainedEntry): void {
    this.remove(topic);
    this.entries.set(topic, e);
    const u = this.users.get(e.owner) ?? { count: 0, bytes: 0 };
    u.count++;
    u.bytes += e.bytes;
    this.users.set(e.owner, u);
    this.total.count++;
    this.total.bytes += e.bytes;
  }

  private remove(topic: string): boolean {
    const old = this.entries.get(topic);
    if (!old) return false;
    this.entries.delete(topic);
    const u = this.users.get(old.owner);
    if (u) {
      u.count--;
      u.bytes -= old.bytes;
      if (u.count <= 0) this.users.delete(old.owner);
    }
    this.total.count--;
    this.total.bytes -= old.bytes;
    return true;
  }
}
