import { memoryPersistence, type AedesPersistence } from './aedes-internals.js';
import type { BrokerStore } from './broker-store.js';
import { ClientIdOwners } from './client-ids.js';
import { RetainedLimits, type RetainedBounds } from './retained-limits.js';

/** What the embedded broker keeps for one run: aedes' persistence, client id owners, the retained ledger. */
export interface BrokerState {
  /** aedes' persistence (sessions, subscriptions, offline queues, retained messages). */
  readonly persistence: AedesPersistence;
  readonly owners: ClientIdOwners;
  /** Describes the retained messages of this persistence. */
  readonly retained: RetainedLimits;
  /** The open state store (close it on stop); undefined when in memory only. */
  readonly store: BrokerStore | undefined;
}

/**
 * Opens the broker's state kept in `stateDir` across restarts (a LevelDB store, loaded only
 * then), or a fresh in-memory state when `stateDir` is undefined. On failure the store is
 * closed again, so that a restart of the source can open it.
 */
export async function openBrokerState(stateDir: string | undefined, bounds: RetainedBounds): Promise<BrokerState> {
  if (stateDir === undefined) {
    return { persistence: memoryPersistence(), owners: new ClientIdOwners(undefined), retained: new RetainedLimits(bounds), store: undefined };
  }
  const { BrokerStore } = await import('./broker-store.js');
  const store = new BrokerStore(stateDir);
  await store.open();
  try {
    const owners = new ClientIdOwners(store.owners());
    await owners.load();
    const retained = new RetainedLimits(bounds, store.retainedIndex());
    await retained.load();
    return { persistence: store.persistence(), owners, retained, store };
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}
