/**
 * The load generator's process (started by load.ts), publishing readings (workload.ts) at a
 * target rate in one of two ways:
 * - over its one raw MQTT 3.1.1 connection (`connect`): every ~1 ms it sends what is due by
 *   then (rate × elapsed), encoded into one buffer and written at once; QoS 1 keeps at most
 *   `window` messages unacknowledged;
 * - over a pool of connections (`openPool`), one per device as sensors publishing to a broker
 *   do: reading `seq` goes to device `seq % devices` on connection `device % connections`,
 *   QoS 1 with at most `window` messages in flight on each connection. A message whose
 *   connection's window is full waits for a PUBACK (it is *held*); how long the longest
 *   wait was is reported, and after `giveUpHeldMs` of holding the step is abandoned (what
 *   was not yet written is never sent), so a broker that acknowledges slowly ends the step
 *   instead of stretching it.
 * It reports how far its own schedule fell behind, so that a step the generator could not
 * drive is never blamed on the system.
 */
import { connect, type Socket } from 'node:net';
import { connectPacket, DISCONNECT, PacketReader, publishSize, writePublish } from './mqtt-wire.js';
import { deviceName } from './readings.js';
import { serve } from './rpc.js';
import { PAYLOADS, type PayloadKind } from './workload.js';

export interface PublishArgs {
  /** The system the readings are for (its topics) and the step's run id. */
  readonly system: string;
  readonly run: string;
  /** Default `point`. */
  readonly payload?: PayloadKind;
  readonly devices: number;
  /** Messages per second; Infinity = as fast as the socket (or the window) allows. */
  readonly rate: number;
  readonly count: number;
  readonly qos: 0 | 1;
  /** The step's base time (ms; µs for `point`). */
  readonly tsBase: number;
  /** QoS 1: most messages unacknowledged at once (per connection with a pool). */
  readonly window?: number;
  /** Publish over the pool opened by `openPool` (QoS 1 only). */
  readonly pool?: boolean;
  /** Pool: abandon the step once a message has been held this long by a full window. */
  readonly giveUpHeldMs?: number;
  /** Give up (reject) after this long. */
  readonly timeoutMs: number;
}

export interface PublishResult {
  readonly sent: number;
  /** From the first write to the last one. */
  readonly elapsedMs: number;
  /** sent / elapsed: the rate the generator kept while sending. */
  readonly achievedRate: number;
  /** How far behind schedule the generator fell at worst (ms), its own lateness only. */
  readonly maxLagMs: number;
  /** Pool: the longest a message waited for room in its connection's window (ms). */
  readonly maxHeldMs: number;
  /** Pool: the step was abandoned (held longer than giveUpHeldMs): `sent` < count. */
  readonly abandoned: boolean;
  /** Wall-clock ms (Date.now) of the last write. */
  readonly lastPublishAt: number;
  /** Wall-clock ms when everything was written and, for QoS 1, acknowledged by the broker. */
  readonly doneAt: number;
}

const MAX_BURST = 4096;

let sock: Socket | undefined;
let onPuback: ((id: number) => void) | undefined;

/** Opens one connection and resolves on its CONNACK (10 s at most). */
function openConnection(port: number, clientId: string, handlers: { puback: (id: number) => void }): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', noDelay: true });
  let connack: ((rc: number) => void) | undefined;
  const r = new PacketReader({ connack: (rc) => connack?.(rc), puback: (id) => handlers.puback(id) });
  s.on('data', (d: Buffer) => r.push(d));
  return new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${clientId}: no CONNACK within 10 s`));
    }, 10_000);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    connack = (rc) => {
      clearTimeout(timer);
      s.on('error', () => {});
      if (rc === 0) resolve(s);
      else reject(new Error(`${clientId}: CONNACK return code ${rc}`));
    };
    s.once('connect', () => s.write(connectPacket(clientId)));
  });
}

async function connectBroker(args: { port: number; clientId: string }): Promise<void> {
  sock?.destroy();
  sock = await openConnection(args.port, args.clientId, { puback: (id) => onPuback?.(id) });
}

function topicsFor(a: PublishArgs): Buffer[] {
  const spec = PAYLOADS[a.payload ?? 'point'];
  return Array.from({ length: Math.min(a.devices, a.count) }, (_, i) => Buffer.from(spec.topic(a.system, a.run, deviceName(i, a.devices))));
}

function publish(a: PublishArgs): Promise<PublishResult> {
  if (a.pool) return publishPool(a);
  const s = sock;
  if (!s || s.destroyed) return Promise.reject(new Error('not connected'));
  const spec = PAYLOADS[a.payload ?? 'point'];
  const topics = topicsFor(a);
  const window = Math.min(a.window ?? 20_000, 60_000);
  const inflight = new Uint8Array(65_536);
  let unacked = 0;
  let nextId = 1;
  let sent = 0;
  let maxLagMs = 0;
  let t0 = 0;
  let lastWriteAt = 0;
  let waitingDrain = false;

  return new Promise<PublishResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const deadline = setTimeout(
      () => finish(new Error(`publish timed out after ${a.timeoutMs} ms (${sent}/${a.count} sent, ${unacked} unacked)`)),
      a.timeoutMs,
    );
    const finish = (err?: Error): void => {
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      onPuback = undefined;
      s.off('close', onClose);
      if (err) return reject(err);
      const elapsedMs = Math.max(0.001, lastWriteAt - t0);
      const lastPublishAt = Date.now() - (performance.now() - lastWriteAt);
      resolve({ sent, elapsedMs, achievedRate: sent / (elapsedMs / 1000), maxLagMs, maxHeldMs: 0, abandoned: false, lastPublishAt, doneAt: Date.now() });
    };
    const onClose = (): void => finish(new Error(`broker closed the connection after ${sent} messages`));
    s.once('close', onClose);
    const maybeDone = (): void => {
      if (sent === a.count && unacked === 0 && !waitingDrain) finish();
    };
    onPuback = (id) => {
      if (inflight[id] === 1) {
        inflight[id] = 0;
        unacked--;
      }
      if (sent === a.count) maybeDone();
    };
    const tick = (): void => {
      timer = undefined;
      immediate = undefined;
      const now = performance.now();
      const due = a.rate === Infinity ? a.count : Math.min(a.count, Math.floor((a.rate * (now - t0)) / 1000) + 1);
      let n = Math.min(due - sent, MAX_BURST);
      if (a.qos === 1) n = Math.min(n, window - unacked);
      if (n > 0) {
        if (a.rate !== Infinity) maxLagMs = Math.max(maxLagMs, now - t0 - (sent * 1000) / a.rate);
        const payloads: string[] = [];
        let size = 0;
        for (let k = 0; k < n; k++) {
          const p = spec.payload(sent + k, a.devices, a.tsBase);
          payloads.push(p);
          size += publishSize(topics[(sent + k) % a.devices]!.length, p.length, a.qos);
        }
        const buf = Buffer.allocUnsafe(size);
        let off = 0;
        for (let k = 0; k < n; k++, sent++) {
          let id = 0;
          if (a.qos === 1) {
            while (inflight[nextId] === 1) nextId = nextId >= 65_535 ? 1 : nextId + 1;
            id = nextId;
            inflight[id] = 1;
            unacked++;
            nextId = nextId >= 65_535 ? 1 : nextId + 1;
          }
          off = writePublish(buf, off, topics[sent % a.devices]!, payloads[k]!, a.qos, id);
        }
        lastWriteAt = performance.now();
        if (!s.write(buf.subarray(0, off))) {
          waitingDrain = true;
          s.once('drain', () => {
            waitingDrain = false;
            lastWriteAt = performance.now();
            if (sent < a.count) schedule(0);
            else maybeDone();
          });
          return;
        }
      }
      if (sent < a.count) schedule(sent < due ? 0 : 1);
      else maybeDone();
    };
    const schedule = (ms: number): void => {
      // Behind schedule: go on at once (setImmediate); on time: wake in ~1 ms.
      if (ms === 0) immediate = setImmediate(tick);
      else timer = setTimeout(tick, ms);
    };
    t0 = performance.now();
    tick();
  });
}

interface PoolConn {
  readonly sock: Socket;
  /** Packet ids in flight (window ≤ 1024, ids 1..65535 reused in turn). */
  readonly inflight: Uint8Array;
  unacked: number;
  nextId: number;
  /** Messages (seq) waiting for room in the window, and since when (performance.now()). */
  held: number[];
  heldAt: number[];
}

let pool: { key: string; conns: PoolConn[]; onAck: (c: PoolConn) => void } | undefined;

/** Opens `connections` connections to the broker on `port` (100 at a time); reuses the pool when it is the same. */
async function openPool(args: { port: number; connections: number; clientPrefix: string }): Promise<{ openMs: number }> {
  const key = `${args.port}/${args.connections}/${args.clientPrefix}`;
  if (pool?.key === key && pool.conns.every((c) => !c.sock.destroyed)) return { openMs: 0 };
  await closePool();
  const t0 = Date.now();
  const p: NonNullable<typeof pool> = { key, conns: [], onAck: () => {} };
  pool = p;
  for (let i = 0; i < args.connections; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, args.connections - i) }, async (_, k) => {
        const conn: PoolConn = { sock: undefined as unknown as Socket, inflight: new Uint8Array(65_536), unacked: 0, nextId: 1, held: [], heldAt: [] };
        const s = await openConnection(args.port, `${args.clientPrefix}-${i + k}`, {
          puback: (id) => {
            if (conn.inflight[id] === 1) {
              conn.inflight[id] = 0;
              conn.unacked--;
            }
            p.onAck(conn);
          },
        });
        (conn as { sock: Socket }).sock = s;
        return conn;
      }),
    );
    p.conns.push(...batch);
  }
  return { openMs: Date.now() - t0 };
}

async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (!p) return;
  await Promise.all(
    p.conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.sock.destroyed) return resolve();
          const timer = setTimeout(() => {
            c.sock.destroy();
            resolve();
          }, 2000);
          c.sock.end(DISCONNECT, () => {
            clearTimeout(timer);
            c.sock.destroy();
            resolve();
          });
        }),
    ),
  );
}

function publishPool(a: PublishArgs): Promise<PublishResult> {
  const p = pool;
  if (!p || p.conns.length === 0) return Promise.reject(new Error('no pool open'));
  if (a.qos !== 1) return Promise.reject(new Error('a pool publishes at QoS 1'));
  const spec = PAYLOADS[a.payload ?? 'point'];
  const topics = topicsFor(a);
  const conns = p.conns;
  const window = Math.max(1, Math.min(a.window ?? 1, 1024));
  const giveUpHeldMs = a.giveUpHeldMs ?? Infinity;
  let assigned = 0;
  let sent = 0;
  let unackedTotal = 0;
  let heldTotal = 0;
  let maxLagMs = 0;
  let maxHeldMs = 0;
  let abandoned = false;
  let t0 = 0;
  let lastWriteAt = 0;

  const send = (c: PoolConn, seq: number): Buffer => {
    while (c.inflight[c.nextId] === 1) c.nextId = c.nextId >= 65_535 ? 1 : c.nextId + 1;
    const id = c.nextId;
    c.inflight[id] = 1;
    c.unacked++;
    unackedTotal++;
    c.nextId = c.nextId >= 65_535 ? 1 : c.nextId + 1;
    const topic = topics[seq % a.devices]!;
    const payload = spec.payload(seq, a.devices, a.tsBase);
    const buf = Buffer.allocUnsafe(publishSize(topic.length, payload.length, 1));
    writePublish(buf, 0, topic, payload, 1, id);
    sent++;
    return buf;
  };

  return new Promise<PublishResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    let done = false;
    const deadline = setTimeout(
      () => finish(new Error(`publish timed out after ${a.timeoutMs} ms (${sent}/${a.count} sent, ${unackedTotal} unacked, ${heldTotal} held)`)),
      a.timeoutMs,
    );
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      p.onAck = () => {};
      for (const c of conns) c.sock.off('close', onClose);
      if (err) return reject(err);
      const elapsedMs = Math.max(0.001, lastWriteAt - t0);
      const lastPublishAt = Date.now() - (performance.now() - lastWriteAt);
      resolve({ sent, elapsedMs, achievedRate: sent / (elapsedMs / 1000), maxLagMs, maxHeldMs, abandoned, lastPublishAt, doneAt: Date.now() });
    };
    const maybeDone = (): void => {
      if ((assigned === a.count || abandoned) && heldTotal === 0 && unackedTotal === 0) finish();
    };
    const abandon = (): void => {
      abandoned = true;
      for (const c of conns) {
        heldTotal -= c.held.length;
        c.held = [];
        c.heldAt = [];
      }
    };
    p.onAck = (c) => {
      unackedTotal--;
      if (c.held.length > 0 && c.unacked < window && !abandoned) {
        const now = performance.now();
        const bufs: Buffer[] = [];
        while (c.held.length > 0 && c.unacked < window) {
          maxHeldMs = Math.max(maxHeldMs, now - c.heldAt.shift()!);
          heldTotal--;
          bufs.push(send(c, c.held.shift()!));
        }
        c.sock.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
        lastWriteAt = now;
      }
      maybeDone();
    };
    const tick = (): void => {
      timer = undefined;
      immediate = undefined;
      if (abandoned) return maybeDone();
      const now = performance.now();
      const due = a.rate === Infinity ? a.count : Math.min(a.count, Math.floor((a.rate * (now - t0)) / 1000) + 1);
      const n = Math.min(due - assigned, MAX_BURST);
      if (n > 0 && a.rate !== Infinity) maxLagMs = Math.max(maxLagMs, now - t0 - (assigned * 1000) / a.rate);
      const out = new Map<PoolConn, Buffer[]>();
      for (let k = 0; k < n; k++, assigned++) {
        const c = conns[(assigned % a.devices) % conns.length]!;
        if (c.held.length > 0 || c.unacked >= window) {
          c.held.push(assigned);
          c.heldAt.push(now);
          heldTotal++;
          continue;
        }
        const list = out.get(c);
        const b = send(c, assigned);
        if (list) list.push(b);
        else out.set(c, [b]);
      }
      if (out.size > 0) lastWriteAt = performance.now();
      for (const [c, bufs] of out) c.sock.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
      // The oldest held message decides whether the step goes on.
      for (const c of conns) {
        if (c.heldAt.length > 0) maxHeldMs = Math.max(maxHeldMs, now - c.heldAt[0]!);
      }
      if (maxHeldMs > giveUpHeldMs) abandon();
      if (assigned < a.count && !abandoned) schedule(assigned < due ? 0 : 1);
      else if (!abandoned && heldTotal > 0)
        timer = setTimeout(tick, 50); // only held messages left: watch how long they wait
      else maybeDone();
    };
    const schedule = (ms: number): void => {
      if (ms === 0) immediate = setImmediate(tick);
      else timer = setTimeout(tick, ms);
    };
    const onClose = (): void => finish(new Error(`the broker closed a connection after ${sent} messages`));
    for (const c of conns) c.sock.once('close', onClose);
    t0 = performance.now();
    tick();
  });
}

async function close(): Promise<void> {
  await closePool();
  const s = sock;
  sock = undefined;
  if (!s || s.destroyed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 2000);
    s.end(DISCONNECT, () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
  });
}

serve({ connect: connectBroker, publish, close, openPool, closePool });
