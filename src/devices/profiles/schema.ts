/**
 * The schema of a device profile file (devices/*.yaml, or a user's profile directory).
 * A profile is data: how messages are matched (MQTT topic templates, or a serial port
 * naming it), which decoder reads them with which params, which fields with which names,
 * units and types, the tags, the timestamp source, availability topics, and an optional
 * `pipeline:` of shaping steps for the readings of its devices (validated like the
 * config's, durations in ms; a device entry's own `pipeline:` replaces it).
 */
import { z } from 'zod';
import { pipelineSchema } from '../../config/schema-pipeline.js';
import { optionalDuration, profileSerialSchema } from '../../config/schema-serial.js';

const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;

const fieldSpec = z.strictObject({
  name: z.string().min(1).describe('Field name written to InfluxDB.'),
  from: z.string().min(1).optional().describe('Name the decoder gives the value. Default: name.'),
  type: z.enum(['float', 'integer', 'boolean', 'string']).default('float').describe('InfluxDB type, fixed. Default float.'),
  unit: z.string().optional().describe('Unit (documentation; shown by `edgeflux devices show`).'),
  scale: z.number().optional().describe('Multiply numbers by this.'),
  offset: z.number().optional().describe('Then add this.'),
  map: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe('Value text → value, e.g. { ON: true, OFF: false }.'),
  description: z.string().optional(),
});

const stateList = z.union([z.string(), z.array(z.string())]).transform((v) => (typeof v === 'string' ? [v] : v));

const availability = z.strictObject({
  topic: z.string().min(1).describe('Topic template with a {device} level, e.g. tele/{device}/LWT.'),
  json_key: z.string().min(1).optional().describe('Read the state from this key when the payload is a JSON object (else the payload text).'),
  online: stateList.default([]).describe('Payloads meaning online.'),
  offline: stateList.default([]).describe('Payloads meaning offline.'),
  init: stateList.default([]).describe('Payloads meaning initialising.'),
  sleeping: stateList.default([]).describe('Payloads meaning asleep (online, not reporting).'),
});

export const profileSchema = z
  .strictObject({
    name: z.string().regex(NAME_RE, 'use lowercase letters, digits, "_" and "-"').describe('Profile name, as devices[].profile and serial[].profile name it.'),
    description: z.string().min(1).describe('One line: what the profile decodes.'),
    docs: z.string().optional().describe('Where the format is documented (vendor manual, API page).'),
    vars: z
      .record(z.string().regex(/^[a-z_][a-z0-9_]*$/), z.string().min(1))
      .default({})
      .describe('%name% placeholders in topics, e.g. base: zigbee2mqtt; a device entry may override them.'),
    mqtt: z
      .strictObject({
        topics: z.array(z.string().min(1)).min(1).describe('Topic templates of data messages, e.g. tele/{device}/SENSOR.'),
        availability: z.array(availability).default([]).describe('Availability / last-will topics: a device status, never a reading.'),
        ignore: z
          .array(z.string().min(1))
          .default([])
          .describe(
            "Topic templates the device publishes that carry no readings (state, info, bridge chatter): counted as ignored, like the config's ignore: list.",
          ),
      })
      .optional()
      .describe('An MQTT device family.'),
    serial: profileSerialSchema.optional(),
    decode: z.strictObject({
      decoder: z.string().min(1).describe('Format decoder name (see `edgeflux devices list`).'),
      params: z.unknown().optional().describe('Decoder parameters.'),
    }),
    measurement: z.string().min(1).describe('Measurement; may use {name} for a topic capture or a tag of the decoder.'),
    tags: z.record(z.string().min(1), z.string()).default({}).describe('Static tags; values may use {name} like the measurement.'),
    drop_tags: z.array(z.string().min(1)).default([]).describe('Topic captures and decoder tags not to write as tags.'),
    fields: z.array(fieldSpec).default([]).describe('Declared fields: names, types, units.'),
    other_fields: z.enum(['keep', 'drop']).default('keep').describe('Undeclared values: keep (numbers float, booleans, strings as found) or drop.'),
    drop: z.array(z.string().min(1)).default([]).describe('Source names never written; "prefix*" drops a prefix.'),
    field_names: z.enum(['as_is', 'snake_case']).default('as_is').describe('Names of undeclared fields.'),
    numeric_strings: z
      .enum(['keep', 'float'])
      .default('keep')
      .describe('Undeclared strings that hold a plain decimal number ("65.83"): keep them strings (default), or write them as floats like numbers.'),
    time: z
      .enum(['payload', 'arrival'])
      .default('payload')
      .describe('Event time: from the payload when the decoder finds one (default), or always the arrival time.'),
    expected_interval: optionalDuration('How often a device reports (for stale-device detection).'),
    pipeline: pipelineSchema
      .optional()
      .describe("Shaping steps for the readings of devices using this profile, before the global pipeline; a device entry's own pipeline replaces them."),
  })
  .superRefine((p, ctx) => {
    if ((p.mqtt === undefined) === (p.serial === undefined))
      ctx.addIssue({ code: 'custom', message: 'a profile has exactly one of mqtt and serial', path: [] });
  });

export type ProfileSpec = z.output<typeof profileSchema>;
export type AvailabilitySpec = ProfileSpec extends { mqtt?: infer M } ? (NonNullable<M> extends { availability: (infer A)[] } ? A : never) : never;

/** JSON Schema (draft-07) of a profile file, for editors (e.g. the YAML language server's `# yaml-language-server: $schema=`). */
export function profileJsonSchema(): object {
  return { ...z.toJSONSchema(profileSchema, { io: 'input', target: 'draft-07', unrepresentable: 'any' }), title: 'edgeflux device profile' };
}
