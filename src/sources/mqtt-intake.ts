import { Store } from 'mqtt';
import type { DoneCallback, IPublishPacket, IStore, MqttClient, Packet, PacketCallback } from 'mqtt';
import type { Counters } from '../observe/counters.js';
import type { Clock } from '../clock.js';
import type { AckGate } from '../types.js';
import type { MessageOutlet } from './source.js';

export interface MqttIntakeOptions {
  readonly sourceId: string;
  readonly outlet: MessageOutlet;
  readonly clock: Clock;
  /** The ingest's barrier: the ack's bytes wait in the corked socket for the journal write. */
  readonly ackBarrier?: AckGate | undefined;
  /** `source_paused{source}`. */
  readonly counters?: Counters | undefined;
  /** The socket of the current connection, read when an ack is given. */
  readonly stream: () => MqttClient['stream'] | undefined;
}

/**
 * Message intake of one MQTT source: each PUBLISH becomes a `RawMessage` whose `ack()`
 * gives mqtt.js the ack of that packet (mqtt-source.ts says why it is held until then).
 * Acks of a message from an earlier connection do nothing (the broker redelivers it), and
 * an ack waits for the socket's 'drain' while the socket holds more than it should.
 */
export class MqttIntake {
  /** Bumped whenever a connection ends: acks of messages from an earlier connection do nothing. */
  private gen = 0;
  /** The incoming store for QoS 2 (a fresh one per `start()`, see `newStore`). */
  store: HoldingStore;

  constructor(private readonly opts: MqttIntakeOptions) {
    this.store = this.newStore();
  }

  /** The connection generation: an answer that arrives after it moved on is stale. */
  get generation(): number {
    return this.gen;
  }

  /** The current connection ended: its messages' acks no longer reach mqtt.js. */
  connectionEnded(): void {
    this.gen++;
  }

  /** A fresh QoS 2 store (the one the next client is given). */
  newStore(): HoldingStore {
    this.store = new HoldingStore((packet, remember, done) => this.emit(packet, done, remember));
    return this.store;
  }

  /** mqtt.js's handler of each PUBLISH (mqtt-js.ts `holdEachPublish`). */
  readonly onPublish = (packet: IPublishPacket, callback: () => void): void => {
    // QoS 2 was handed on (and acked with PUBREC) at PUBLISH time, see HoldingStore.
    if (packet.qos === 2) callback();
    else this.emit(packet, callback);
  };

  /**
   * The hot path: one object and one closure per message. `callback` acknowledges on the
   * connection the message came from (skipped if that connection is gone: the broker
   * redelivers); `remember` runs on every ack.
   */
  private emit(packet: IPublishPacket, callback: () => void, remember?: () => void): void {
    const gen = this.gen;
    const o = this.opts;
    let acked = false;
    const { topic, payload } = packet;
    o.outlet.push({
      sourceId: o.sourceId,
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      receivedAt: o.clock.arrivalNs(),
      ack: () => {
        if (acked) return;
        acked = true;
        remember?.();
        if (gen !== this.gen) return;
        const stream = o.stream();
        if (stream?.writableNeedDrain === true) {
          o.counters?.inc('source_paused', { source: o.sourceId });
          stream.once('drain', () => {
            if (gen === this.gen) this.sendAck(stream, packet, callback); // the ack waits until the socket took what it holds
          });
        } else this.sendAck(stream, packet, callback);
      },
      ackGated: o.ackBarrier !== undefined,
    });
  }

  /** Gives mqtt.js the ack; with a barrier, its bytes (QoS 1: the PUBACK) wait in the corked socket for the journal write. */
  private sendAck(stream: MqttClient['stream'] | undefined, packet: IPublishPacket, callback: () => void): void {
    if (this.opts.ackBarrier !== undefined && stream !== undefined && packet.qos > 0) this.opts.ackBarrier.hold(stream); // QoS 0: no ack bytes
    callback();
  }
}

/**
 * The incoming store mqtt.js puts a QoS 2 PUBLISH into before it sends PUBREC: a new
 * PUBLISH is handed to `onPublish`, and the put completes (so PUBREC goes out) only when
 * the message is acked. A retransmitted PUBLISH whose earlier copy was acked completes at
 * once (no second delivery); PUBREL then finds it here and releases it.
 */
export class HoldingStore implements IStore {
  private readonly packets = new Map<number, Packet>();

  constructor(private readonly onPublish: (packet: IPublishPacket, remember: () => void, done: () => void) => void) {}

  put(packet: Packet, cb: DoneCallback): this {
    const id = packet.messageId;
    if (packet.cmd !== 'publish' || id === undefined || this.packets.has(id)) cb();
    else
      this.onPublish(
        packet,
        () => this.packets.set(id, packet),
        () => cb(),
      );
    return this;
  }

  get(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const found = this.packets.get(packet.messageId ?? -1);
    cb(found ? undefined : new Error('missing packet'), found);
    return this;
  }

  del(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const found = this.packets.get(packet.messageId ?? -1);
    this.packets.delete(packet.messageId ?? -1);
    cb(found ? undefined : new Error('missing packet'), found);
    return this;
  }

  /** Never read for incoming packets (mqtt.js streams only its outgoing store): an empty store's stream. */
  createStream(): ReturnType<IStore['createStream']> {
    return new Store().createStream();
  }

  close(cb: DoneCallback): void {
    this.packets.clear();
    cb();
  }

  /** Forgets everything (the broker reported no session). */
  clear(): void {
    this.packets.clear();
  }
}
