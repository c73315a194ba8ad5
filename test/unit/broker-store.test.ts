import { afterEach, describe, expect, it } from 'vitest';
import { BrokerStore } from '../../src/sources/broker/broker-store.js';
import type { AedesPersistence } from '../../src/sources/broker/aedes-internals.js';
import { tempDir } from '../helpers/net.js';

/** The part of aedes' persistence these tests call. */
interface Persistence extends AedesPersistence {
  putWill(client: { id: string }, packet: object): Promise<void>;
  getWill(client: { id: string }): Promise<unknown>;
  delWill(client: { id: string }): Promise<unknown>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function store(): Promise<{ store: BrokerStore; dir: string }> {
  const dir = await tempDir('edgeflux-broker-store-');
  cleanups.push(dir.cleanup);
  const s = new BrokerStore(dir.path);
  await s.open();
  return { store: s, dir: dir.path };
}

/** How `p` stands once the event loop has gone round: a closed database refuses within microtasks. */
function standing(p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<'pending'>((r) => setImmediate(() => r('pending'))),
  ]);
}

const WILL = { cmd: 'publish', topic: 'dev/status', payload: Buffer.from('gone'), qos: 1, retain: false };

describe('BrokerStore: aedes calls around close()', () => {
  it('a call under way finishes before the database closes; one after close is not answered, and never rejected', async () => {
    const { store: s, dir } = await store();
    const p = s.persistence() as Persistence;
    const put = p.putWill({ id: 'dev' }, WILL);
    const closed = s.close();
    await put; // under way when close() was called: finished, not cut off
    await closed;
    // aedes' will step of a CONNECT caught half-way by the stop: the closed database's
    // rejection would not be caught there (an unhandled rejection ends the daemon).
    expect(await standing(p.delWill({ id: 'dev' }))).toBe('pending');
    const queued: unknown[] = [];
    for await (const packet of p.outgoingStream({ id: 'dev' })) queued.push(packet);
    expect(queued).toEqual([]);

    const again = new BrokerStore(dir);
    await again.open();
    cleanups.push(() => again.close());
    expect(await (again.persistence() as Persistence).getWill({ id: 'dev' })).toMatchObject({ topic: 'dev/status' });
  });

  it('close() lets a piece of work finish: the step that follows a step under way still reaches the database', async () => {
    const { store: s, dir } = await store();
    const p = s.persistence() as Persistence;
    // As aedes queues a QoS 1 message for an away session after its PUBACK: a lookup, then a write.
    const work = p.getWill({ id: 'dev' }).then(() => p.putWill({ id: 'dev' }, WILL));
    await s.close();
    await work;

    const again = new BrokerStore(dir);
    await again.open();
    cleanups.push(() => again.close());
    expect(await (again.persistence() as Persistence).getWill({ id: 'dev' })).toMatchObject({ topic: 'dev/status' });
  });
});
