/**
 * The load generator's process (started by load.ts): one raw MQTT 3.1.1 connection,
 * publishing readings (readings.ts) at a target rate. Pacing: every ~1 ms it sends what
 * is due by then (rate × elapsed), encoded into one buffer and written at once; QoS 1
 * keeps at most `window` messages unacknowledged. It reports how far it fell behind,
 * so that a step the generator could not drive is never blamed on the system.
 */
import { connect, type Socket } from 'node:net';
import { connectPacket, DISCONNECT, PacketReader, publishSize, writePublish } from './mqtt-wire.js';
import { deviceName, payloadOf, topicOf } from './readings.js';
import { serve } from './rpc.js';

export interface PublishArgs {
  /** Topic prefix `bench/<system>/<run>`. */
  readonly prefix: string;
  readonly devices: number;
  /** Messages per second; Infinity = as fast as the socket takes them. */
  readonly rate: number;
  readonly count: number;
  readonly qos: 0 | 1;
  readonly tsBaseUs: number;
  /** QoS 1: most messages unacknowledged at once. */
  readonly window?: number;
  /** Give up (reject) after this long. */
  readonly timeoutMs: number;
}

export interface PublishResult {
  readonly sent: number;
  /** From the first write to the last one. */
  readonly elapsedMs: number;
  /** sent / elapsed: the rate the generator kept while sending. */
  readonly achievedRate: number;
  /** How far behind schedule the generator fell at worst (ms). */
  readonly maxLagMs: number;
  /** Wall-clock ms (Date.now) of the last write. */
  readonly lastPublishAt: number;
  /** Wall-clock ms when everything was written and, for QoS 1, acknowledged by the broker. */
  readonly doneAt: number;
}

const MAX_BURST = 4096;

let sock: Socket | undefined;
let reader: PacketReader | undefined;
let onConnack: ((rc: number) => void) | undefined;
let onPuback: ((id: number) => void) | undefined;

async function connectBroker(args: { port: number; clientId: string }): Promise<void> {
  sock?.destroy();
  const s = connect({ port: args.port, host: '127.0.0.1', noDelay: true });
  sock = s;
  reader = new PacketReader({ connack: (rc) => onConnack?.(rc), puback: (id) => onPuback?.(id) });
  s.on('data', (d: Buffer) => reader?.push(d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no CONNACK within 10 s')), 10_000);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    onConnack = (rc) => {
      clearTimeout(timer);
      if (rc === 0) resolve();
      else reject(new Error(`CONNACK return code ${rc}`));
    };
    s.once('connect', () => s.write(connectPacket(args.clientId)));
  });
  s.on('error', () => {});
}

function publish(a: PublishArgs): Promise<PublishResult> {
  const s = sock;
  if (!s || s.destroyed) return Promise.reject(new Error('not connected'));
  const topics = Array.from({ length: Math.min(a.devices, a.count) }, (_, i) => Buffer.from(topicOf(a.prefix, deviceName(i, a.devices))));
  const window = Math.min(a.window ?? 20_000, 60_000);
  const maxSize = publishSize(Math.max(...topics.map((t) => t.length)), payloadOf(a.count, a.tsBaseUs).length + 8, a.qos);
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
    const deadline = setTimeout(() => finish(new Error(`publish timed out after ${a.timeoutMs} ms (${sent}/${a.count} sent, ${unacked} unacked)`)), a.timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      onPuback = undefined;
      s.off('close', onClose);
      if (err) return reject(err);
      const elapsedMs = Math.max(0.001, lastWriteAt - t0);
      const lastPublishAt = Date.now() - (performance.now() - lastWriteAt);
      resolve({ sent, elapsedMs, achievedRate: sent / (elapsedMs / 1000), maxLagMs, lastPublishAt, doneAt: Date.now() });
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
        const buf = Buffer.allocUnsafe(n * maxSize);
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
          off = writePublish(buf, off, topics[sent % a.devices]!, payloadOf(sent, a.tsBaseUs), a.qos, id);
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

async function close(): Promise<void> {
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

serve({ connect: connectBroker, publish, close });
