/**
 * Config schema of serial ports (`serial:` list) and of serial framing, which device
 * profiles also use for their defaults (a port naming a profile takes baud rate,
 * framing, polling and watchdog from it unless the port sets them).
 *
 * ```yaml
 * serial:
 *   - id: sds                       # topic and source id of its messages
 *     path: /dev/serial/by-id/usb-1a86_USB_Serial-if00-port0   # stable across replugs
 *     profile: sds011               # framing, 9600 8N1 from the profile
 * ```
 */
import { z } from 'zod';
import { CHECKSUM_TYPES, parseHexBytes } from '../util/checksum.js';
import { pipelineSchema } from './schema-pipeline.js';
import { formatDuration, parseDuration } from './units.js';

/** A duration ("500ms", "5s") → ms, or absent (no default: the profile's applies). */
export function optionalDuration(about: string, min = 0, max = 2 ** 31 - 1) {
  return z
    .union([z.string(), z.number()], { error: 'expected a duration such as "10s" or "500ms"' })
    .transform((v, ctx) => {
      const r = parseDuration(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
      else if (r.value < min || r.value > max)
        ctx.addIssue({ code: 'custom', message: `must be between ${formatDuration(min)} and ${formatDuration(max)}`, input: v });
      return r.ok ? r.value : z.NEVER;
    })
    .optional()
    .describe(`${about} Duration: "500ms", "10s", "5m" (a unit is required).`);
}

/** Bytes written "AA C0", "aac0", "0xAA 0xC0" or as a list of numbers. */
export const hexBytesField = (about: string) =>
  z
    .union([z.string(), z.array(z.int().min(0).max(255))], { error: 'expected bytes as hex ("AA C0") or a list of numbers' })
    .transform((v, ctx) => {
      const b = parseHexBytes(v);
      if (b === undefined || b.length === 0)
        ctx.addIssue({ code: 'custom', message: 'expected bytes as hex ("AA C0", "0xAA 0xC0") or a list of numbers 0..255', input: v });
      return b === undefined ? z.NEVER : [...b];
    })
    .describe(`${about} Hex ("AA C0") or a list of numbers.`);

const maxLength = (def: number) =>
  z
    .int()
    .min(1)
    .max(1 << 20)
    .default(def)
    .describe(`Longest frame in bytes; longer input is cut off and counted. Default ${def}.`);

const readline = z.strictObject({
  type: z.literal('readline').describe('Text lines (serialport ReadlineParser).'),
  delimiter: z.string().min(1).default('\n').describe('Line end. Default "\\n"; write "\\r\\n" in double quotes for CR LF.'),
  include_delimiter: z.boolean().default(false).describe('Keep the delimiter in the frame. Default false.'),
  max_length: maxLength(4096),
});
const delimiter = z.strictObject({
  type: z.literal('delimiter').describe('Frames ending in a byte sequence (serialport DelimiterParser).'),
  delimiter: hexBytesField('The byte sequence that ends a frame.'),
  include_delimiter: z.boolean().default(false).describe('Keep the delimiter in the frame. Default false.'),
  max_length: maxLength(4096),
});
const regex = z.strictObject({
  type: z.literal('regex').describe('Text split on a regular expression (serialport RegexParser; UTF-8 text only).'),
  regex: z
    .string()
    .min(1)
    .refine((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression')
    .describe('Pattern to split on, e.g. "[\\r\\n]+".'),
  max_length: maxLength(4096),
});
const byteLength = z.strictObject({
  type: z.literal('byte_length').describe('Fixed-size frames without any marker (serialport ByteLengthParser; cannot resynchronise).'),
  length: z.int().min(1).max(65536).describe('Bytes per frame.'),
});
const packetLength = z.strictObject({
  type: z.literal('packet_length').describe('[start byte][length]… frames (serialport PacketLengthParser; one start byte, no checksum check).'),
  delimiter: z
    .union([z.int().min(0).max(255), z.array(z.int().min(0).max(255)).min(1)])
    .default(0xaa)
    .describe('Start byte(s); any of them starts a packet. Default 0xAA.'),
  length_offset: z.int().min(1).max(64).default(1).describe('Offset of the length field. Default 1.'),
  length_bytes: z.int().min(1).max(4).default(1).describe('Size of the (little-endian) length field. Default 1.'),
  overhead: z.int().min(0).max(1024).default(2).describe('Bytes beyond the payload length (start, length, checksum, footer). Default 2.'),
  max_length: z.int().min(1).max(65536).default(255).describe('Largest payload length accepted. Default 255.'),
});
const interByteTimeout = z.strictObject({
  type: z.literal('inter_byte_timeout').describe('A frame ends after a pause (serialport InterByteTimeoutParser).'),
  interval: z.int().min(1).max(60_000).describe('Silence in ms that ends a frame.'),
  max_length: maxLength(65536),
});
const frame = z
  .strictObject({
    type: z
      .literal('frame')
      .describe(
        'Binary frames with start bytes, a fixed or self-described length, optional end byte and checksum; resynchronises on the start bytes (see frame-splitter.ts).',
      ),
    start: hexBytesField('Start sequence of every frame.'),
    length: z.int().min(1).max(65536).optional().describe('Fixed frame length in bytes (start to end included).'),
    length_field: z
      .strictObject({
        offset: z.int().min(0).max(1024).describe('Offset of the length field.'),
        bytes: z
          .union([z.literal(1), z.literal(2)])
          .default(1)
          .describe('Size of the length field. Default 1.'),
        endian: z.enum(['be', 'le']).default('be').describe('Byte order of a 2-byte length. Default be.'),
        add: z.int().min(-1024).max(1024).default(0).describe('Frame length = field value + add.'),
      })
      .optional()
      .describe('Frame length read from the frame itself.'),
    end: hexBytesField('End sequence of every frame.').optional(),
    checksum: z
      .strictObject({
        type: z.enum(['sum8', 'sum16be', 'neg_sum8', 'xor8']).describe(`Algorithm: ${CHECKSUM_TYPES.join(', ')}.`),
        from: z.int().min(-65536).max(65536).describe('First byte summed (negative: from the end).'),
        to: z.int().min(-65536).max(65536).describe('End of the summed bytes, exclusive (negative: from the end).'),
        at: z.int().min(-65536).max(65536).describe('Offset of the stored checksum (negative: from the end).'),
      })
      .optional()
      .describe('Checksum that a frame must pass to be accepted.'),
    max_length: maxLength(512),
  })
  .superRefine((f, ctx) => {
    if ((f.length === undefined) === (f.length_field === undefined))
      ctx.addIssue({ code: 'custom', message: 'set exactly one of length and length_field', path: ['length'] });
    if (f.length !== undefined && f.length < f.start.length + (f.end?.length ?? 0))
      ctx.addIssue({ code: 'custom', message: 'shorter than start + end', path: ['length'] });
  });

export const framingSchema = z
  .discriminatedUnion('type', [readline, delimiter, regex, byteLength, packetLength, interByteTimeout, frame])
  .describe('How the byte stream is cut into messages.');

export const pollSchema = z
  .strictObject({
    request: hexBytesField('Request frame written every interval, e.g. "FF 01 86 00 00 00 00 00 79".'),
    interval: optionalDuration('Time between requests.', 100).pipe(z.number()),
    timeout: optionalDuration('Time to wait for the reply (counted as poll_timeouts when exceeded). Default 1s.', 1).transform((v) => v ?? 1000),
  })
  .describe('Polled sensors: a request is written on an interval and the reply awaited.');

/** Line settings and behaviour that a profile may default. */
const lineSettings = {
  baud_rate: z.int().min(50).max(4_000_000).optional().describe("Baud rate. Default: the profile's, else 9600."),
  data_bits: z
    .union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)])
    .optional()
    .describe('Data bits. Default 8.'),
  parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).optional().describe('Parity. Default none.'),
  stop_bits: z
    .union([z.literal(1), z.literal(1.5), z.literal(2)])
    .optional()
    .describe('Stop bits. Default 1.'),
  framing: framingSchema.optional(),
  poll: pollSchema.optional(),
  watchdog: optionalDuration(
    "Reopen the port when no frame arrived for this long (a disconnect is not always reported). 0 = off. Default: the profile's, else off.",
  ),
};

/** The `serial:` section of a device profile. */
export const profileSerialSchema = z.strictObject(lineSettings).describe('Serial defaults for ports that name this profile.');

export const serialPortSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "." and "-" (starting with a letter or digit)')
      .describe('Id: the source id and topic of its messages.'),
    path: z.string().min(1).describe('Device path; prefer /dev/serial/by-id/… (stable across replugs and reboots) over /dev/ttyUSB0.'),
    profile: z.string().min(1).optional().describe('Device profile decoding this port (e.g. sds011); absent = the rules decode it (topic = id).'),
    ...lineSettings,
    exclusive: z.boolean().default(true).describe('Open exclusively (TIOCEXCL): a second opener gets EBUSY. Default true.'),
    open_timeout: optionalDuration('Longest wait for an open. Default 5s.', 1).transform((v) => v ?? 5000),
    reconnect: z
      .strictObject({
        initial: optionalDuration('First retry delay. Default 100ms.', 1).transform((v) => v ?? 100),
        max: optionalDuration('Largest retry delay. Default 1s (a replugged device resumes within 2 s).', 1).transform((v) => v ?? 1000),
      })
      .prefault({})
      .describe('Reopen backoff after an unplug or a failed open (exponential, with jitter).'),
    max_unacked: z.int().min(1).max(10_000).default(16).describe('Frames handed on but not yet acknowledged before the port is paused. Default 16.'),
    tags: z.record(z.string(), z.string()).default({}).describe('Tags added to every reading from this port.'),
    pipeline: pipelineSchema
      .optional()
      .describe("Shaping steps for this port's readings instead of its profile's, before the global pipeline (a port decoded by the rules takes its rule's)."),
  })
  .describe('A serial port (USB/UART) read by edgeflux.');

export const serialSchema = z.array(serialPortSchema).default([]).describe('Serial ports.');

export type FramingConfig = z.output<typeof framingSchema>;
export type FrameFramingConfig = Extract<FramingConfig, { type: 'frame' }>;
export type PollConfig = z.output<typeof pollSchema>;
export type ProfileSerialConfig = z.output<typeof profileSerialSchema>;
export type SerialPortConfig = z.output<typeof serialPortSchema>;

/** A port with the profile's defaults applied: what SerialSource runs on. */
export interface SerialPortSettings {
  readonly id: string;
  readonly path: string;
  readonly profile?: string | undefined;
  readonly baud_rate: number;
  readonly data_bits: 5 | 6 | 7 | 8;
  readonly parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  readonly stop_bits: 1 | 1.5 | 2;
  readonly framing: FramingConfig;
  readonly poll?: PollConfig | undefined;
  readonly exclusive: boolean;
  readonly open_timeout: number;
  readonly reconnect: { readonly initial: number; readonly max: number };
  /** 0 = off. */
  readonly watchdog: number;
  readonly max_unacked: number;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * The port's own settings over its profile's serial defaults over built-in defaults
 * (9600 8N1, watchdog off). A port without framing (its own or its profile's) is an
 * error: the message, to be reported at `serial[i].framing`.
 */
export function resolveSerialPort(port: SerialPortConfig, profile?: ProfileSerialConfig): SerialPortSettings | { readonly error: string } {
  const framing = port.framing ?? profile?.framing;
  if (framing === undefined) {
    return { error: port.profile === undefined ? 'required (or name a profile that defines it)' : `required: profile "${port.profile}" defines no framing` };
  }
  if (port.reconnect.initial > port.reconnect.max) return { error: 'reconnect.initial must not exceed reconnect.max' };
  return {
    id: port.id,
    path: port.path,
    profile: port.profile,
    baud_rate: port.baud_rate ?? profile?.baud_rate ?? 9600,
    data_bits: port.data_bits ?? profile?.data_bits ?? 8,
    parity: port.parity ?? profile?.parity ?? 'none',
    stop_bits: port.stop_bits ?? profile?.stop_bits ?? 1,
    framing,
    poll: port.poll ?? profile?.poll,
    exclusive: port.exclusive,
    open_timeout: port.open_timeout,
    reconnect: port.reconnect,
    watchdog: port.watchdog ?? profile?.watchdog ?? 0,
    max_unacked: port.max_unacked,
    tags: port.tags,
  };
}
