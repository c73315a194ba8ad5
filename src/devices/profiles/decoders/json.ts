/**
 * Generic JSON objects: the core JSON decoder (src/devices/decode-json.ts: flattening,
 * tag keys, timestamp from a key in s/ms/us/ns/iso, the same error reasons) behind a
 * profile, whose field declarations then fix names and types. Zigbee2MQTT's device
 * messages are this format too.
 */
import { z } from 'zod';
import { createJsonDecoder } from '../../decode-json.js';
import type { FormatInput, FormatResult } from '../types.js';
import { defineDecoder } from './decoder.js';
import { isProfileError, payloadText } from './text.js';

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
    return fn;
  },
});
