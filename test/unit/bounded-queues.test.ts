import { describe, expect, it } from 'vitest';
import { boundOutgoingQueues } from '../../src/sources/broker/bounded-queues.js';
import { memoryPersistence, type AedesPersistence } from '../../src/sources/broker/aedes-internals.js';

// aedes' own in-memory persistence, bounded as the embedded broker bounds it.

function packet(n: number) {
  return { cmd: 'publish', topic: 'sensors/t', payload: Buffer.from(String(n)), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: n };
}

async function stored(p: AedesPersistence, clientId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const pk of p.outgoingStream({ id: clientId })) out.push((pk as { payload: Buffer }).payload.toString());
  return out;
}

describe('boundOutgoingQueues', () => {
  it('publishes racing for one away client: exactly the limit is queued, the rest dropped and counted', async () => {
    const p = memoryPersistence();
    const drops: string[] = [];
    boundOutgoingQueues(p, 3, (id) => drops.push(id));
    // All five start before any finishes, as five publishers' messages do on a busy broker.
    await Promise.all([1, 2, 3, 4, 5].map((n) => p.outgoingEnqueue({ clientId: 'away' }, packet(n))));
    expect(await stored(p, 'away')).toEqual(['1', '2', '3']);
    expect(drops).toEqual(['away', 'away']);
  });

  it("a client's queue is independent of another's, and an acknowledged message frees its place", async () => {
    const p = memoryPersistence();
    const drops: string[] = [];
    boundOutgoingQueues(p, 2, (id) => drops.push(id));
    await Promise.all([1, 2, 3].map((n) => p.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], packet(n))));
    expect(await stored(p, 'a')).toEqual(['1', '2']);
    expect(await stored(p, 'b')).toEqual(['1', '2']);
    expect(drops.sort()).toEqual(['a', 'b']);

    // aedes gives a queued packet its message id when it sends it; the PUBACK clears it.
    const first = (await p.outgoingStream({ id: 'a' }).toArray())[0] as { messageId?: number };
    first.messageId = 7;
    await p.outgoingClearMessageId({ id: 'a' }, { messageId: 7 });
    await p.outgoingEnqueue({ clientId: 'a' }, packet(4));
    expect(await stored(p, 'a')).toEqual(['2', '4']);
    expect(drops.sort()).toEqual(['a', 'b']);
  });
});
