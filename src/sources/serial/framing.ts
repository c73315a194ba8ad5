/**
 * The framing of one serial port: a transform from the port's byte chunks to messages,
 * built from the parsers serialport ships (readline, delimiter, regex, byte length,
 * packet length, inter-byte timeout) or, for start-byte + checksum frames, our
 * FrameSplitter (see why in frame-splitter.ts). Every parser runs in readable object mode
 * so that frame boundaries survive while the stream is paused.
 *
 * Bounds: the delimiter-based parsers buffer until the delimiter comes; when a device
 * sends no delimiter (wrong baud rate, binary noise) the buffer is cut at `max_length`
 * and the cut bytes are handed on as one message (it fails to decode: counted and
 * dead-lettered), so memory stays bounded.
 */
import type { Transform } from 'node:stream';
import { ByteLengthParser, DelimiterParser, InterByteTimeoutParser, PacketLengthParser, ReadlineParser, RegexParser } from 'serialport';
import type { FramingConfig } from '../../config/schema-serial.js';
import type { ChecksumSpec } from '../../util/checksum.js';
import { FrameSplitter } from './frame-splitter.js';

export interface Framer {
  readonly stream: Transform;
  /** Feeds bytes in; returns the number of bytes cut off because a frame grew beyond max_length (0 normally). */
  write(chunk: Buffer): number;
  /** Stops timers and drops buffered bytes; returns how many bytes were dropped. */
  dispose(): number;
}

/** Frames as Buffers: text parsers in object mode may emit strings. */
export function frameBytes(frame: unknown): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.from(String(frame), 'utf8');
}

export function createFramer(cfg: FramingConfig): Framer {
  const om = { readableObjectMode: true } as const;
  switch (cfg.type) {
    case 'readline':
      // encoding undefined: Buffers out, so bytes that are not UTF-8 reach the decoder as they came.
      return bounded(new ReadlineParser({ ...om, delimiter: cfg.delimiter, includeDelimiter: cfg.include_delimiter, encoding: undefined }), cfg.max_length);
    case 'delimiter':
      return bounded(new DelimiterParser({ ...om, delimiter: cfg.delimiter, includeDelimiter: cfg.include_delimiter }), cfg.max_length);
    case 'regex': {
      const p = new RegexParser({ ...om, regex: new RegExp(cfg.regex) });
      return plain(
        p,
        () => {
          if (Buffer.byteLength(p.data) <= cfg.max_length) return 0;
          const cut = p.data;
          p.data = '';
          p.push(Buffer.from(cut, 'utf8'));
          return Buffer.byteLength(cut);
        },
        () => {
          const n = Buffer.byteLength(p.data);
          p.data = '';
          return n;
        },
      );
    }
    case 'byte_length':
      return plain(new ByteLengthParser({ ...om, length: cfg.length }));
    case 'packet_length':
      return plain(
        new PacketLengthParser({
          ...om,
          delimiter: cfg.delimiter,
          lengthOffset: cfg.length_offset,
          lengthBytes: cfg.length_bytes,
          packetOverhead: cfg.overhead,
          maxLen: cfg.max_length,
        }),
      );
    case 'inter_byte_timeout': {
      const p = new InterByteTimeoutParser({ ...om, interval: cfg.interval, maxBufferSize: cfg.max_length });
      return plain(p, undefined, () => {
        if (p.intervalID !== undefined) clearTimeout(p.intervalID);
        p.intervalID = undefined;
        const n = p.currentPacket.length;
        p.currentPacket = [];
        return n;
      });
    }
    case 'frame': {
      const s = new FrameSplitter({
        start: Buffer.from(cfg.start),
        length: cfg.length,
        lengthField: cfg.length_field,
        end: cfg.end === undefined ? undefined : Buffer.from(cfg.end),
        checksum: cfg.checksum as ChecksumSpec | undefined,
        maxLength: cfg.max_length,
      });
      return plain(s, undefined, () => s.buffered);
    }
  }
}

function plain(stream: Transform, overflow?: () => number, drop?: () => number): Framer {
  return {
    stream,
    write(chunk) {
      stream.write(chunk);
      return overflow?.() ?? 0;
    },
    dispose() {
      const n = drop?.() ?? 0;
      stream.removeAllListeners('data');
      stream.destroy();
      return n;
    },
  };
}

/** A delimiter-based parser whose buffer is cut at `max` bytes. */
function bounded(p: DelimiterParser, max: number): Framer {
  return plain(
    p,
    () => {
      if (p.buffer.length <= max) return 0;
      const cut = p.buffer;
      p.buffer = Buffer.alloc(0);
      p.push(cut);
      return cut.length;
    },
    () => {
      const n = p.buffer.length;
      p.buffer = Buffer.alloc(0);
      return n;
    },
  );
}
