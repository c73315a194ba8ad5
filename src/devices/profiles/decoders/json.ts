/**
 * Generic JSON objects: the core JSON decoder (src/devices/decode-json.ts: flattening,
 * tag keys, timestamp from a key in s/ms/us/ns/iso, the same error reasons) behind a
 * profile, whose field declarations then fix names and types. Zigbee2MQTT's device
 * messages are this format too.
 *
 * The fast way (`FormatFn.into`), for profiles without `time_key` and `tag_keys`: a flat
 * object (flat-json.ts) goes straight to the readings, each non-null value under its key;
 * anything else, and anything the core decoder would reject (a number out of range,
 * nothing but nulls), goes the core decoder's way. After it declines, it skips the scan
 * for 1, 2, 4, … up to 256 messages, as the core decoder does for nested payloads.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { createJsonDecoder } from '../../decode-json.js';
import { scanFlatObject } from '../../flat-json.js';
import type { FormatInput, FormatResult } from '../types.js';
import { defineDecoder, type RecordSink } from './decoder.js';
import { isProfileError, payloadText } from './text.js';

/** Writes a flat object's values into `sink`; false when the payload is not one the core decoder takes as it is. */
function flatInto(payload: Buffer, sink: RecordSink): boolean {
  if (payload.length === 0) return false;
  const s = scanFlatObject(payload, 0, payload.length);
  if (s === undefined || (!s.ascii && !isUtf8(payload))) return false;
  const { keys, values, n } = s;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || keys[i] === '') continue;
    if (typeof v === 'number' && !Number.isFinite(v)) return false;
    count++;
  }
  if (count === 0) return false;
  sink.begin();
  for (let i = 0; i < n; i++) {
    const v = values[i] as number | string | boolean | null;
    const key = keys[i] as string;
    if (v === null || key === '') continue;
    if (!sink.value(key, v)) return true;
  }
  sink.end(undefined, undefined);
  return true;
}

export const json = defineDecoder({
  name: 'json',
  description: 'JSON objects: nested objects flattened, optional time key and tag keys',
  transport: 'any',
  params: z
    .strictObject({
      separator: z.string().default('_').describe('Joins the keys of nested objects. Default "_".'),
      time_key: z.string().min(1).optional().describe('Key (or dotted path) holding the event time; absent = arrival time.'),
      time_unit: z.enum(['s', 'ms', 'us', 'ns', 'iso']).default('ms').describe('Unit of time_key. Default ms.'),
      tag_keys: z.array(z.string().min(1)).default([]).describe('Keys whose values become tags instead of fields.'),
    })
    .prefault({}),
  create: (p) => {
    const decode = createJsonDecoder({
      fields: [],
      rename: {},
      integers: [],
      strings: 'keep',
      separator: p.separator,
      tag_keys: p.tag_keys,
      time_unit: p.time_unit,
      ...(p.time_key !== undefined && { time_key: p.time_key }),
    });
    const fn = (input: FormatInput): FormatResult => {
      const ctx = { measurement: '_', tags: {}, receivedAt: input.receivedAt };
      let r = input.payload.length > 0 ? decode.bytes(input.payload, 0, input.payload.length, ctx) : undefined;
      if (r === undefined) {
        const text = payloadText(input.payload);
        if (isProfileError(text)) return text;
        r = decode(text, ctx);
      }
      if (isProfileError(r)) return r;
      return r.map((x) => ({ values: x.fields, tags: x.tags, ...(x.time !== input.receivedAt && { time: x.time }) }));
    };
    if (p.time_key !== undefined || p.tag_keys.length > 0) return fn;
    let skip = 0;
    let backoff = 0;
    const into = (payload: Buffer, sink: RecordSink): boolean => {
      if (skip > 0) {
        skip--;
        return false;
      }
      const done = flatInto(payload, sink);
      if (done) backoff = 0;
      else skip = backoff = Math.min(256, backoff * 2 || 1);
      return done;
    };
    return Object.assign(fn, { into });
  },
});
