/**
 * Who owns a client id. The first user to connect with a client id owns it from then on
 * (remembered across restarts when a store is given); another user is refused that id, so
 * that nobody can inherit someone else's persistent session (its subscriptions and queued
 * messages) or kick its connection by connecting under the same id.
 *
 * Ids are compared by an ownership key: NFKC, case-folded, default-ignorable code points
 * (zero-width spaces, joiners, soft hyphens, variation selectors…) removed. So "Observer",
 * "OBSERVER", "observer\u200b" and the full-width "ｏｂｓｅｒｖｅｒ" are one id for ownership,
 * whatever aedes (which compares exact strings) makes of them.
 *
 * Bounded: at most `maxPerUser` ids are remembered per user; claiming one more forgets that
 * user's least recently used id (which another user could then claim). Ids aedes generated
 * for clients that sent none are never claimed.
 */

const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** The key under which a client id is owned. */
export function ownershipKey(clientId: string): string {
  // toUpperCase then toLowerCase folds the cases toLowerCase alone keeps apart (ß/ẞ → ss, ς → σ).
  return clientId.normalize('NFKC').replace(IGNORABLE, '').toUpperCase().toLowerCase().normalize('NFKC');
}

/** Where ownership is kept across restarts (a LevelDB sublevel in the daemon). */
export interface OwnerStore {
  load(): Promise<Iterable<[key: string, owner: string]>>;
  put(key: string, owner: string): Promise<void>;
  del(key: string): Promise<void>;
}

/** The owner name of anonymous clients (no user can have it: usernames are never empty). */
export const ANONYMOUS_OWNER = '';

export type ClaimResult = { ok: true } | { ok: false; owner: string };

export class ClientIdOwners {
  /** key → owner, in least-recently-used order per insertion (re-inserted on use). */
  private readonly owners = new Map<string, string>();
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly store: OwnerStore | undefined,
    private readonly maxPerUser = 1000,
  ) {}

  async load(): Promise<void> {
    if (!this.store) return;
    for (const [key, owner] of await this.store.load()) this.remember(key, owner);
  }

  /**
   * Claims `clientId` for `owner` (a username, or ANONYMOUS_OWNER): ok when it is free
   * (then recorded) or already this owner's; else who owns it. The store write is not
   * awaited by the caller's answer: a failed write is reported through `onStoreError`.
   */
  claim(clientId: string, owner: string, onStoreError: (err: unknown) => void): ClaimResult {
    const key = ownershipKey(clientId);
    const current = this.owners.get(key);
    if (current !== undefined && current !== owner) return { ok: false, owner: current };
    if (current !== undefined) {
      // Most recently used last.
      this.owners.delete(key);
      this.owners.set(key, owner);
      return { ok: true };
    }
    if ((this.perUser.get(owner) ?? 0) >= this.maxPerUser) this.forgetOldestOf(owner, onStoreError);
    this.remember(key, owner);
    this.store?.put(key, owner).catch(onStoreError);
    return { ok: true };
  }

  ownerOf(clientId: string): string | undefined {
    return this.owners.get(ownershipKey(clientId));
  }

  get size(): number {
    return this.owners.size;
  }

  private remember(key: string, owner: string): void {
    this.owners.set(key, owner);
    this.perUser.set(owner, (this.perUser.get(owner) ?? 0) + 1);
  }

  private forgetOldestOf(owner: string, onStoreError: (err: unknown) => void): void {
    for (const [key, o] of this.owners) {
      if (o !== owner) continue;
      this.owners.delete(key);
      this.perUser.set(owner, (this.perUser.get(owner) ?? 1) - 1);
      this.store?.del(key).catch(onStoreError);
      return;
    }
  }
}

/**
 * A client id pattern such as `%u-*`: `%u` is the username, `*` any run of characters
 * (possibly empty). Compared on ownership keys, so case and invisible characters do not
 * matter. Anonymous clients match only a pattern without `%u`.
 */
export function clientIdMatches(pattern: string, clientId: string, username: string | undefined): boolean {
  if (pattern.includes('%u') && (username === undefined || username === '')) return false;
  // A function replacer: a username's `$&`, `$$`, `` $` `` must not act as replacement patterns.
  const literal = (part: string) => ownershipKey(part.replaceAll('%u', () => username ?? '')).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${pattern.split('*').map(literal).join('.*')}$`, 'su').test(ownershipKey(clientId));
}
