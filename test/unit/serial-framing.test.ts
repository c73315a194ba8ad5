import { afterEach, describe, expect, it, vi } from 'vitest';
import { framingSchema, type FramingConfig } from '../../src/config/schema-serial.js';
import { createFramer, frameBytes } from '../../src/sources/serial/framing.js';

function framer(input: unknown) {
  const cfg = framingSchema.parse(input) as FramingConfig;
  const f = createFramer(cfg);
  const out: Buffer[] = [];
  f.stream.on('data', (x: unknown) => out.push(frameBytes(x)));
  return { f, out, hexes: () => out.map((b) => b.toString('hex')), texts: () => out.map((b) => b.toString('latin1')) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createFramer: serialport parsers per port', () => {
  it('readline: any delimiter, Buffers out, bytes that are not UTF-8 kept as they came', async () => {
    const { f, out, texts } = framer({ type: 'readline', delimiter: '\r\n' });
    f.write(Buffer.from('temp=21.5\r\nhum=4'));
    f.write(Buffer.concat([Buffer.from('0\r\n'), Buffer.from([0xff, 0xfe]), Buffer.from('\r\n')]));
    await Promise.resolve();
    expect(texts().slice(0, 2)).toEqual(['temp=21.5', 'hum=40']);
    expect(out[2]).toEqual(Buffer.from([0xff, 0xfe]));
    expect(out.every((b) => Buffer.isBuffer(b))).toBe(true);
    f.dispose();
  });

  it('readline: a line beyond max_length is cut and handed on (bounded memory)', () => {
    const { f, out } = framer({ type: 'readline', max_length: 8 });
    expect(f.write(Buffer.alloc(20, 0x41))).toBe(20);
    expect(out).toEqual([Buffer.alloc(20, 0x41)]);
    expect(f.write(Buffer.from('ok\n'))).toBe(0);
    expect(out[1]?.toString()).toBe('ok');
    f.dispose();
  });

  it('delimiter: a byte sequence in hex', () => {
    const { f, hexes } = framer({ type: 'delimiter', delimiter: '7E 7E' });
    f.write(Buffer.from('01027e7e03047e7e', 'hex'));
    expect(hexes()).toEqual(['0102', '0304']);
    f.dispose();
  });

  it('regex: text split on a pattern', () => {
    const { f, texts } = framer({ type: 'regex', regex: '[\\r\\n]+' });
    f.write(Buffer.from('a=1\r\n\r\nb=2\nc'));
    expect(texts()).toEqual(['a=1', 'b=2']);
    f.dispose();
  });

  it('byte_length: fixed-size chunks', () => {
    const { f, hexes } = framer({ type: 'byte_length', length: 3 });
    f.write(Buffer.from('0102030405', 'hex'));
    f.write(Buffer.from('0607', 'hex'));
    expect(hexes()).toEqual(['010203', '040506']);
    f.dispose();
  });

  it('packet_length: one start byte and a length byte', () => {
    const { f, hexes } = framer({ type: 'packet_length', delimiter: 0xbc, length_offset: 1, length_bytes: 1, overhead: 3 });
    f.write(Buffer.from('bc02aabbff' + 'bc01cc00', 'hex'));
    expect(hexes()).toEqual(['bc02aabbff', 'bc01cc00']);
    f.dispose();
  });

  it('inter_byte_timeout: a pause ends a frame; dispose frees its timer', () => {
    vi.useFakeTimers();
    const { f, hexes } = framer({ type: 'inter_byte_timeout', interval: 20 });
    f.write(Buffer.from('0102', 'hex'));
    vi.advanceTimersByTime(10);
    f.write(Buffer.from('03', 'hex'));
    vi.advanceTimersByTime(25);
    f.write(Buffer.from('04', 'hex'));
    expect(hexes()).toEqual(['010203']);
    expect(vi.getTimerCount()).toBe(1);
    expect(f.dispose()).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('frame: the start-byte + checksum splitter', () => {
    const { f, hexes } = framer({ type: 'frame', start: 'AA C0', length: 10, end: 'AB', checksum: { type: 'sum8', from: 2, to: 8, at: 8 } });
    f.write(Buffer.from('00aac0d4043a0aa1601dab', 'hex'));
    expect(hexes()).toEqual(['00', 'aac0d4043a0aa1601dab']);
    f.dispose();
  });
});

describe('framing schema', () => {
  it('rejects a frame config with both or neither of length and length_field', () => {
    expect(framingSchema.safeParse({ type: 'frame', start: 'AA' }).success).toBe(false);
    expect(framingSchema.safeParse({ type: 'frame', start: 'AA', length: 4, length_field: { offset: 1 } }).success).toBe(false);
  });

  it('rejects bad hex and bad regexes', () => {
    expect(framingSchema.safeParse({ type: 'delimiter', delimiter: 'XYZ' }).success).toBe(false);
    expect(framingSchema.safeParse({ type: 'regex', regex: '(' }).success).toBe(false);
    expect(framingSchema.parse({ type: 'delimiter', delimiter: [13, 10] })).toMatchObject({ delimiter: [13, 10] });
  });
});
