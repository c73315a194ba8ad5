import { settlesWithin } from '../../src/util/timeout.js';
import { createConnection, type Socket } from 'node:net';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type Packet } from 'mqtt-packet';

/**
 * A raw MQTT 3.1.1 connection: packets written with mqtt-packet over a plain socket, so a
 * test can do what a client library would refuse to (another user's client id, a publish
 * the client was never granted, half a CONNECT). Every received packet is kept in order.
 */
export class RawMqtt {
  readonly packets: Packet[] = [];
  private waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  readonly closed: Promise<void>;
  private isClosed = false;

  private constructor(readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.waiters = this.waiters.filter((w) => !(w.match(p) && (w.resolve(p), true)));
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static async open(port: number): Promise<RawMqtt> {
    const socket = createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RawMqtt(socket);
  }

  /** Opens a socket, sends CONNECT and resolves with the CONNACK (or rejects when the socket closes first). */
  static async connect(
    port: number,
    opts: { clientId: string; username?: string; password?: string; clean?: boolean; keepalive?: number },
  ): Promise<{ conn: RawMqtt; connack: IConnackPacket }> {
    const conn = await RawMqtt.open(port);
    const packet: IConnectPacket = {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: opts.clean ?? true,
      clientId: opts.clientId,
      keepalive: opts.keepalive ?? 60,
      ...(opts.username !== undefined && { username: opts.username }),
      ...(opts.password !== undefined && { password: Buffer.from(opts.password) }),
    };
    conn.send(packet);
    const connack = (await conn.next('connack')) as IConnackPacket;
    return { conn, connack };
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** The next packet of this kind (already received or still to come); rejects on close or after `timeoutMs`. */
  next(cmd: Packet['cmd'], timeoutMs = 5000, where: (p: Packet) => boolean = () => true): Promise<Packet> {
    const match = (p: Packet) => p.cmd === cmd && where(p);
    const seen = this.packets.find(match);
    if (seen) {
      this.packets.splice(this.packets.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${cmd} within ${timeoutMs} ms`)), timeoutMs);
      const waiter = {
        match,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          this.packets.splice(this.packets.indexOf(p), 1);
          resolve(p);
        },
      };
      this.waiters.push(waiter);
      void this.closed.then(() => {
        clearTimeout(timer);
        if (this.waiters.includes(waiter)) reject(new Error(`connection closed before ${cmd}`));
      });
    });
  }

  /** QoS 1 publish; resolves with the PUBACK, rejects when the connection closes instead. */
  async publish(topic: string, payload: string | Buffer, opts: { messageId?: number; retain?: boolean; qos?: 0 | 1 } = {}): Promise<void> {
    const qos = opts.qos ?? 1;
    const messageId = opts.messageId ?? 1;
    this.send({
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      retain: opts.retain ?? false,
      dup: false,
      ...(qos > 0 && { messageId }),
    });
    if (qos > 0) await this.next('puback', 5000, (p) => (p as { messageId?: number }).messageId === messageId);
  }

  async subscribe(filter: string, qos: 0 | 1 = 1, messageId = 1): Promise<number[]> {
    this.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] });
    const suback = (await this.next('suback')) as { granted: number[] };
    return suback.granted;
  }

  async end(): Promise<void> {
    if (this.isClosed) return;
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    this.socket.destroySoon();
    await settlesWithin(this.closed, 1000); // a bound, not a wait: the timer goes as soon as it closes
    this.socket.destroy();
  }
}
