import { replaceOutgoingQueue, type AedesPersistence } from './aedes-internals.js';

/**
 * Bounds the queue of every persistent session at `maxPerClient` messages (aedes keeps
 * them without limit): a message for a full queue is not queued, and `onDrop` is told
 * (the newest is dropped, as mosquitto's max_queued_messages does). Replaces the queue
 * methods of `p` in place (aedes-internals.ts `replaceOutgoingQueue`).
 *
 * A queue's length is counted from the store the first time the client is seen, then kept
 * up to date (+1 per message queued, -1 per message acknowledged); when the count says
 * full it is counted again from the store before anything is dropped, so a count that
 * drifted (a queue aedes emptied itself) costs one recount, never a wrong drop. Enqueues
 * for one client run one after another, so two publishers racing for the last free place
 * cannot both take it, nor two first-time counts both read the same stored length.
 */
export function boundOutgoingQueues(p: AedesPersistence, maxPerClient: number, onDrop: (clientId: string) => void): void {
  const counts = new Map<string, number>();
  const enqueue = p.outgoingEnqueue.bind(p);
  const clear = p.outgoingClearMessageId.bind(p);

  const countStored = async (clientId: string): Promise<number> => {
    let n = 0;
    const stream = p.outgoingStream({ id: clientId });
    for await (const _ of stream) {
      if (++n > maxPerClient) break;
    }
    stream.destroy();
    return n;
  };

  const boundedEnqueue = async (sub: { clientId: string }, packet: unknown): Promise<void> => {
    let n = counts.get(sub.clientId);
    if (n === undefined || n >= maxPerClient) n = await countStored(sub.clientId);
    if (n >= maxPerClient) {
      counts.set(sub.clientId, n);
      onDrop(sub.clientId);
      return;
    }
    counts.set(sub.clientId, n + 1);
    await enqueue(sub, packet);
  };

  // The tail of each client's chain of enqueues; removed when the chain goes idle.
  const tails = new Map<string, Promise<void>>();
  const serialEnqueue = (sub: { clientId: string }, packet: unknown): Promise<void> => {
    const prev = tails.get(sub.clientId);
    const run = prev === undefined ? boundedEnqueue(sub, packet) : prev.then(() => boundedEnqueue(sub, packet));
    // The chain continues after a failure: the caller sees it, the next enqueue still runs.
    const tail = run.catch(() => undefined);
    tails.set(sub.clientId, tail);
    void tail.then(() => {
      if (tails.get(sub.clientId) === tail) tails.delete(sub.clientId);
    });
    return run;
  };

  replaceOutgoingQueue(p, {
    outgoingEnqueue: serialEnqueue,
    outgoingEnqueueCombi: async (subs, packet) => {
      await Promise.all(subs.map((s) => serialEnqueue(s, packet)));
    },
    outgoingClearMessageId: async (client, packet) => {
      const cleared = await clear(client, packet);
      const n = counts.get(client.id);
      if (cleared !== undefined && n !== undefined) counts.set(client.id, Math.max(0, n - 1));
      return cleared;
    },
  });
}
