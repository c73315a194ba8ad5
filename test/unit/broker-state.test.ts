import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openBrokerState, type BrokerState } from '../../src/sources/broker/broker-state.js';
import { DEFAULT_RETAINED_BOUNDS } from '../../src/sources/broker/retained-limits.js';
import { tempDir, waitFor } from '../helpers/net.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(dir: string | undefined): Promise<BrokerState> {
  const s = await openBrokerState(dir, DEFAULT_RETAINED_BOUNDS);
  cleanups.push(() => s.store?.close() ?? Promise.resolve());
  return s;
}

const fail = (err: unknown): never => {
  throw err;
};

describe('openBrokerState: what the embedded broker keeps for a run', () => {
  it('without a state directory: a fresh in-memory state, no store', async () => {
    const s = await open(undefined);
    expect(s.store).toBeUndefined();
    expect(s.owners.size).toBe(0);
    expect(s.retained.usage()).toEqual({ count: 0, bytes: 0 });
    expect(s.persistence).toBeDefined();
  });

  it('with one: client id owners and the retained ledger are loaded again by the next run; a second opener is kept out meanwhile', async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    const dir = join(tmp.path, 'broker');
    const first = await open(dir);
    expect(first.owners.claim('sensor-1', 'alice', fail)).toEqual({ ok: true });
    first.retained.accept('alice', 'home/lamp', 3, fail);
    await waitFor(async () => [...(await first.store!.retainedIndex().load())].length === 1, 5000, 'retained entry saved');
    await waitFor(async () => [...(await first.store!.owners().load())].length === 1, 5000, 'owner saved');
    await expect(openBrokerState(dir, DEFAULT_RETAINED_BOUNDS)).rejects.toThrow();
    await first.store!.close();

    const second = await open(dir);
    expect(second.store).toBeDefined();
    expect(second.owners.ownerOf('sensor-1')).toBe('alice');
    expect(second.retained.usage('alice')).toEqual({ count: 1, bytes: Buffer.byteLength('home/lamp') + 3 });
  });
});
