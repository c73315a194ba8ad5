/**
 * Just enough MQTT 3.1.1 for a cheap, precise publisher: CONNECT, PUBLISH (QoS 0/1),
 * DISCONNECT out; CONNACK, PUBACK in. The load generator encodes packets straight into
 * one buffer per tick so that the generator costs little CPU next to the system under test.
 */

/** Bytes of the MQTT "remaining length" varint for `n`. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Writes the remaining-length varint at `off`; returns the new offset. */
export function writeVarint(buf: Buffer, off: number, n: number): number {
  let x = n;
  do {
    let byte = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) byte |= 0x80;
    buf[off++] = byte;
  } while (x > 0);
  return off;
}

export function connectPacket(clientId: string, keepaliveS = 0): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const body = 10 + 2 + id.length;
  const buf = Buffer.alloc(1 + varintSize(body) + body);
  let off = 0;
  buf[off++] = 0x10;
  off = writeVarint(buf, off, body);
  off = buf.writeUInt16BE(4, off);
  off += buf.write('MQTT', off, 'latin1');
  buf[off++] = 4; // protocol level 3.1.1
  buf[off++] = 0x02; // clean session
  off = buf.writeUInt16BE(keepaliveS, off);
  off = buf.writeUInt16BE(id.length, off);
  id.copy(buf, off);
  return buf;
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** Largest encoded size of a PUBLISH with this topic and payload length. */
export function publishSize(topicLen: number, payloadLen: number, qos: 0 | 1): number {
  const body = 2 + topicLen + (qos > 0 ? 2 : 0) + payloadLen;
  return 1 + varintSize(body) + body;
}

/**
 * Encodes a PUBLISH at `off` (topic as prebuilt bytes, payload as an ASCII string);
 * returns the new offset. `buf` must have room (see publishSize).
 */
export function writePublish(buf: Buffer, off: number, topic: Buffer, payload: string, qos: 0 | 1, packetId: number): number {
  const body = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length;
  if (off + 1 + varintSize(body) + body > buf.length) throw new RangeError('writePublish: buffer too small');
  buf[off++] = 0x30 | (qos << 1);
  off = writeVarint(buf, off, body);
  buf[off++] = topic.length >> 8;
  buf[off++] = topic.length & 0xff;
  off += topic.copy(buf, off);
  if (qos > 0) {
    buf[off++] = packetId >> 8;
    buf[off++] = packetId & 0xff;
  }
  off += buf.write(payload, off, 'latin1');
  return off;
}

export interface PacketHandlers {
  connack(returnCode: number): void;
  puback(packetId: number): void;
}

/** Splits the incoming byte stream into packets and hands CONNACK and PUBACK on. */
export class PacketReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly on: PacketHandlers) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let len = 0;
      let mult = 1;
      let i = off + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < buf.length; k++, i++) {
        const b = buf[i]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || buf.length - i < len) break;
      const type = buf[off]! >> 4;
      if (type === 4 && len >= 2) this.on.puback((buf[i]! << 8) | buf[i + 1]!);
      else if (type === 2 && len >= 2) this.on.connack(buf[i + 1]!);
      off = i + len;
    }
    buf = buf.subarray(off);
    this.pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
  }
}
