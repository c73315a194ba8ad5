/**
 * Every place where the embedded broker relies on aedes, aedes-persistence or
 * aedes-persistence-level beyond their documented API, in one module. Each export names
 * the version, file and behaviour it relies on. test/integration/aedes-internals.test.ts
 * pins the three versions and checks each behaviour against the installed libraries, so a
 * library change fails there, not silently in production. After an upgrade, re-check
 * this file against the new sources.
 */
import type { Readable } from 'node:stream';
import type { AedesOptions, Client, PublishPacket } from 'aedes';
import AsyncMemoryPersistence from 'aedes-persistence/asyncPersistence.js';

/** The versions (major.minor) these reaches were checked against. */
export const AEDES_VERIFIED = '1.2';
export const AEDES_PERSISTENCE_VERIFIED = '11.0';
export const AEDES_PERSISTENCE_LEVEL_VERIFIED = '9.2';

/**
 * The part of aedes' persistence interface edgeflux calls or replaces, as the
 * `asyncPersistence.js` classes of aedes-persistence 11 and aedes-persistence-level 9.2 have
 * it: every method answers with a promise, but those in PERSISTENCE_STREAM_METHODS.
 */
export interface AedesPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: unknown): Promise<unknown>;
  outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: unknown): Promise<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
  createRetainedStream(pattern: string): Readable;
}

/** The persistence methods that keep each persistent session's queue of QoS 1/2 messages. */
export type OutgoingQueue = Pick<AedesPersistence, 'outgoingEnqueue' | 'outgoingEnqueueCombi' | 'outgoingClearMessageId'>;

/**
 * aedes' in-memory persistence: aedes-persistence 11 `asyncPersistence.js`. Deep-imported
 * because the package's main export wraps that class in a callback API (persistence.js).
 * package.json declares the exact version aedes 1.2 and aedes-persistence-level 9.2 bring
 * (the test checks that all three resolve the same copy).
 */
export function memoryPersistence(): AedesPersistence {
  return new AsyncMemoryPersistence() as AedesPersistence;
}

/**
 * Loads aedes-persistence-level 9.2 `asyncPersistence.js`; the function it resolves with builds
 * one over `db` (an abstract-level database or sublevel). Loaded only when called: the daemon
 * loads it only when the broker keeps its state on disk.
 */
export async function loadLevelPersistence(): Promise<(db: unknown) => AedesPersistence> {
  const { default: AsyncLevelPersistence } = await import('aedes-persistence-level/asyncPersistence.js');
  return (db) => new AsyncLevelPersistence(db) as AedesPersistence;
}

/**
 * The persistence methods that answer with a stream; every other method of both persistence
 * classes is an async function (aedes-persistence 11 and aedes-persistence-level 9.2
 * `asyncPersistence.js`). The test checks this split against both classes.
 */
export const PERSISTENCE_STREAM_METHODS: ReadonlySet<PropertyKey> = new Set([
  'createRetainedStream',
  'createRetainedStreamCombi',
  'outgoingStream',
  'streamWill',
  'getClientList',
]);

/**
 * `run` in the shape of `method`: an async function when `method` is one. aedes 1.2
 * (aedes.js `listen()`) refuses a persistence whose `setup.constructor.name` is not
 * 'AsyncFunction', so a wrapper around a persistence method must keep that shape.
 */
export function sameShapeAs(method: (...args: never[]) => unknown, run: (args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return method.constructor.name === 'AsyncFunction' ? async (...args: unknown[]) => run(args) : (...args: unknown[]) => run(args);
}

/**
 * Replaces the persistent sessions' queue methods of `p` in place (before `createBroker`).
 * aedes 1.2 looks them up on `broker.persistence` at each call, never keeping a copy:
 * aedes.js queues each QoS 1/2 message for the persistent sessions subscribed to it with
 * `outgoingEnqueueCombi`, `Client#publish` (lib/client.js) with `outgoingEnqueue`, and
 * lib/handlers/puback.js and lib/client.js clear a delivered one with `outgoingClearMessageId`.
 */
export function replaceOutgoingQueue(p: AedesPersistence, by: OutgoingQueue): void {
  p.outgoingEnqueue = by.outgoingEnqueue;
  p.outgoingEnqueueCombi = by.outgoingEnqueueCombi;
  p.outgoingClearMessageId = by.outgoingClearMessageId;
}

/** Every retained message of `p` matching `pattern`, its payload as bytes (the stream may give strings). */
export async function* retainedMessages(p: AedesPersistence, pattern = '#'): AsyncGenerator<{ topic: string; payload: Buffer }> {
  for await (const m of p.createRetainedStream(pattern) as AsyncIterable<{ topic: string; payload: Buffer | string }>) {
    yield { topic: m.topic, payload: Buffer.isBuffer(m.payload) ? m.payload : Buffer.from(m.payload) };
  }
}

/**
 * The error aedes 1.2 emits (lib/client.js, the connect timer) when no CONNECT arrived within
 * `connectTimeout`: as 'connectionError', since the client has no id yet. It has no code,
 * only this text.
 */
export const CONNECT_TIMEOUT_MESSAGE = 'connect did not arrive in time';

/** Whether `err` is aedes' "no CONNECT in time" error. */
export function isConnectTimeout(err: Error): boolean {
  return err.message === CONNECT_TIMEOUT_MESSAGE;
}

/**
 * The stream that was handed to `broker.handle(conn)` for this client: aedes 1.2 keeps that
 * very object as `client.conn` (lib/client.js constructor), so what was noted about a
 * connection when it was handed over can be found again from the client.
 */
export function connectionOf(client: Client): object {
  return client.conn;
}

/**
 * aedes' `authorizePublish` hook, made to hold each PUBLISH until `handler` acks it. aedes 1.2
 * runs `authorizePublish` before anything else it does with a client's PUBLISH
 * (lib/handlers/publish.js: authorizePublish, then the PUBACK and the forward for QoS 1, the
 * PUBREC for QoS 2), so the PUBACK (or PUBREC) waits for the ack. `ack(null)` takes the
 * message; `ack(err)` refuses it, and aedes then closes the client. `client` is null for the
 * will of a client that is gone (aedes.js `_clearWills`).
 *
 * A held PUBLISH does not reliably stop aedes reading that client. aedes counts the packets of
 * the current read still being handled, but every 'readable' event of the connection counts
 * one down too (lib/client.js `nextBatch`), so a packet that arrives after a read that emptied
 * the connection's buffer is read and handled at once: a client that sends one packet at a
 * time is read on while its PUBLISH is held. Only data that arrives while unread data waits
 * (no new 'readable' event) stays unread: a burst stops after a read or two (measured: 612 of
 * 20,000 100-byte QoS 1 publishes sent at once). The test pins the first case. So the
 * embedded broker stops reading the socket itself (`maxHeldPerClient`, `holdReads` below,
 * listeners.ts `pauseReading`).
 */
export function holdEachPublish(
  handler: (client: Client | null, packet: PublishPacket, ack: (err?: Error | null) => void) => void,
): Pick<AedesOptions, 'authorizePublish'> {
  return { authorizePublish: (client, packet, callback) => handler(client, packet, callback) };
}

/**
 * Runs `fn` once the PUBACKs written in this turn of the event loop have reached the socket
 * under the connection. aedes 1.2 writes a PUBACK synchronously in the ack's callback with
 * mqtt-packet 9's `writeToStream` (lib/write.js), as three small writes (type, length,
 * message id) to the connection, which mqtt-packet corks until `process.nextTick`. So at
 * `setImmediate` every one of them has been handed down: a socket corked for the turn may
 * be uncorked then, and sends them in one write(2).
 */
export function afterAckWrites(fn: () => void): ReturnType<typeof setImmediate> {
  return setImmediate(fn);
}

/**
 * The embedded broker's hold on what aedes reads from a connection. aedes 1.2 reads a
 * connection only by calling its `read()` on each 'readable' event (lib/client.js
 * `nextBatch`; it pauses and resumes clients itself around CONNECT, lib/handlers/connect.js,
 * so its own `client.pause()` cannot be shared). So the connection's `read()` is wrapped:
 * - each chunk goes through `inspect` before aedes parses it; false (a packet too large:
 *   `inspect` ends the connection) and aedes gets nothing of it;
 * - while paused, `read()` returns nothing without reading: the socket's buffer fills to its
 *   highWaterMark, node stops reading the descriptor, the kernel's receive window closes
 *   and the publisher blocks. `resume()` emits 'readable' on the next tick (not inside the
 *   caller: an ack must not have aedes handle, and ack, later packets before its own
 *   PUBACK is written), so aedes reads what waits. `pause()` is false when paused already.
 */
export function holdReads(conn: Readable, inspect: (chunk: Buffer) => boolean): { pause(): boolean; resume(): void } {
  const read = conn.read;
  let paused = false;
  conn.read = function (this: Readable, n?: number) {
    if (paused) return null;
    const chunk: unknown = read.call(this, n);
    return chunk === null || inspect(chunk as Buffer) ? chunk : null;
  };
  return {
    pause: () => !paused && (paused = true),
    resume: () => {
      if (!paused) return;
      paused = false;
      process.nextTick(() => conn.destroyed || conn.emit('readable'));
    },
  };
}

/**
 * aedes 1.2 closes a client after 1.5 × its keepalive without a packet it handled
 * (lib/handlers/connect.js `setKeepAlive`; each handled packet refreshes the timer,
 * lib/handlers/index.js), emitting 'keepaliveTimeout' and then 'clientError' ("keep alive
 * timeout"). A connection whose socket the embedded broker stops reading sends aedes nothing,
 * so it is closed after that long; the client reconnects and resends what was not acked.
 * aedes emits 'client' when it registers the client (after closing an older client with the
 * same id), before it writes the CONNACK (lib/handlers/connect.js `registerClient`, then
 * `doConnack`): a connection paused there is paused before the client saw its CONNACK.
 */
export const KEEPALIVE_TIMEOUT_FACTOR = 1.5;
