/**
 * The journal payload of edgeflux's own readings (self-source.ts): the readings themselves,
 * typed, with no detour through line protocol. A payload is
 *
 *   0x00 0x01                                   marker (no line of line protocol starts with NUL) and version
 *   strings: count, then per string its UTF-8 length and bytes   (every name and tag value once)
 *   readings: count, then per reading:
 *     measurement (string index), tag count, (key index, value index)*,
 *     field count, (name index, type, value)*, time (ns, minus the previous reading's)
 *
 * counts, lengths and indexes as unsigned LEB128 varints, integers and times as zigzag
 * varints; a field's type byte is i (integer), g (a float with an integral value, as an
 * integer), f (any other float: float64 LE), t / F (true / false), s (string index). The
 * repeated names and tag values (`edgeflux_internal`, `host`, the host name, `kind`, ...)
 * are written once per payload and the report's points share one time: a report takes
 * about three quarters of its line-protocol bytes (the field names, each once, are most of it).
 *
 * A payload without the marker is line protocol: what versions before this one journaled
 * (decodeSelf in self-source.ts reads both, so an upgrade replays the old spool).
 */
import { setProp } from '../util/own.js';
import { decodeError, type DecodeError, type FieldValue, type Reading } from '../types.js';

const MARKER = 0x00;
const VERSION = 0x01;

export function isSelfPayload(payload: Buffer): boolean {
  return payload.length >= 2 && payload[0] === MARKER;
}

/** The payload of `readings`; readings without a field are left out (InfluxDB has no such point). */
export function encodeSelfReadings(readings: readonly Reading[]): Buffer {
  const kept = readings.filter((r) => Object.keys(r.fields).length > 0);
  const index = new Map<string, number>();
  const strings: Buffer[] = [];
  const id = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      index.set(s, i);
      strings.push(Buffer.from(s, 'utf8'));
    }
    return i;
  };
  const body = new ByteWriter();
  body.varint(kept.length);
  let prevTime = 0n;
  for (const r of kept) {
    body.varint(id(r.measurement));
    const tags = Object.entries(r.tags);
    body.varint(tags.length);
    for (const [k, v] of tags) body.varint(id(k)).varint(id(v));
    const fields = Object.entries(r.fields);
    body.varint(fields.length);
    for (const [name, value] of fields) {
      body.varint(id(name));
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && !Object.is(value, -0)) body.byte(0x67).zigzag(BigInt(value));
        else body.byte(0x66).float64(value);
      } else if (typeof value === 'bigint') body.byte(0x69).zigzag(value);
      else if (typeof value === 'boolean') body.byte(value ? 0x74 : 0x46);
      else body.byte(0x73).varint(id(value));
    }
    body.zigzag(r.time - prevTime);
    prevTime = r.time;
  }
  const head = new ByteWriter().byte(MARKER).byte(VERSION).varint(strings.length);
  for (const b of strings) head.varint(b.length).bytes(b);
  return Buffer.concat([head.done(), body.done()]);
}

/** Appends to a buffer that grows as needed. */
class ByteWriter {
  private buf = Buffer.allocUnsafe(256);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(b: number): this {
    this.room(1);
    this.buf[this.at++] = b;
    return this;
  }

  varint(n: number): this {
    let v = n;
    while (v >= 0x80) {
      this.byte((v & 0x7f) | 0x80);
      v = Math.floor(v / 0x80);
    }
    return this.byte(v);
  }

  float64(v: number): this {
    this.room(8);
    this.at = this.buf.writeDoubleLE(v, this.at);
    return this;
  }

  /** Any integer, small ones in few bytes: 0, -1, 1, -2, ... as 0, 1, 2, 3, ... in LEB128. */
  zigzag(v: bigint): this {
    let u = v < 0n ? -v * 2n - 1n : v * 2n;
    while (u >= 0x80n) {
      this.byte(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    return this.byte(Number(u));
  }

  bytes(b: Buffer): this {
    this.room(b.length);
    this.at += b.copy(this.buf, this.at);
    return this;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/** The readings of a payload made by encodeSelfReadings, or why it cannot be read. */
export function decodeSelfReadings(payload: Buffer): Reading[] | DecodeError {
  let at = 2;
  const fail = (what: string): DecodeError => decodeError('invalid_line_protocol', `edgeflux's own readings: ${what} at byte ${at}`);
  const need = (n: number): boolean => at + n <= payload.length;
  const readZigzag = (): bigint | undefined => {
    let u = 0n;
    let shift = 0n;
    for (let i = 0; i < 20 && at < payload.length; i++) {
      const b = payload[at++] as number;
      u |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return u & 1n ? -(u + 1n) / 2n : u / 2n;
      shift += 7n;
    }
    return undefined;
  };
  const readVarint = (): number | undefined => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8 && at < payload.length; i++) {
      const b = payload[at++] as number;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    return undefined;
  };
  if (!isSelfPayload(payload) || payload[1] !== VERSION) return fail(`not a version ${VERSION} payload`);
  const count = readVarint();
  if (count === undefined) return fail('truncated string table');
  const strings: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = readVarint();
    if (len === undefined || !need(len)) return fail('truncated string');
    strings.push(payload.toString('utf8', at, at + len));
    at += len;
  }
  const str = (): string | undefined => {
    const i = readVarint();
    return i === undefined ? undefined : strings[i];
  };
  const readings: Reading[] = [];
  let prevTime = 0n;
  const n = readVarint();
  if (n === undefined) return fail('truncated reading count');
  for (let r = 0; r < n; r++) {
    const measurement = str();
    const tagCount = readVarint();
    if (measurement === undefined || tagCount === undefined) return fail('bad reading');
    const tags: Record<string, string> = {};
    for (let t = 0; t < tagCount; t++) {
      const k = str();
      const v = str();
      if (k === undefined || v === undefined) return fail('bad tag');
      setProp(tags, k, v);
    }
    const fieldCount = readVarint();
    if (fieldCount === undefined) return fail('bad field count');
    const fields: Record<string, FieldValue> = {};
    for (let f = 0; f < fieldCount; f++) {
      const name = str();
      if (name === undefined || !need(1)) return fail('bad field');
      const type = payload[at++];
      if (type === 0x66) {
        if (!need(8)) return fail('truncated number');
        setProp(fields, name, payload.readDoubleLE(at));
        at += 8;
      } else if (type === 0x69 || type === 0x67) {
        const v = readZigzag();
        if (v === undefined) return fail('truncated integer');
        setProp(fields, name, type === 0x69 ? v : Number(v));
      } else if (type === 0x74 || type === 0x46) setProp(fields, name, type === 0x74);
      else if (type === 0x73) {
        const s = str();
        if (s === undefined) return fail('bad string field');
        setProp(fields, name, s);
      } else return fail(`unknown field type ${String(type)}`);
    }
    const delta = readZigzag();
    if (delta === undefined) return fail('truncated time');
    const time = prevTime + delta;
    prevTime = time;
    readings.push({ measurement, tags, fields, time });
  }
  if (at !== payload.length) return fail('trailing bytes');
  return readings;
}
