/**
 * The `rules:` section: how messages on matching topics become readings (topic template,
 * payload format and its options, measurement and tags from captures). Mounted by schema.ts.
 */
import { z } from 'zod';
import { compileTopicTemplate, compileValueTemplate, isTemplateError } from '../util/topic-template.js';
import { text } from './schema-fields.js';
import { pipelineSchema } from './schema-pipeline.js';

type Ctx = z.core.$RefinementCtx;

const jsonOptions = z
  .strictObject({
    fields: z.array(text()).default([]).describe('Keep only these fields (after flattening and renaming). Default: all.'),
    rename: z.record(z.string(), text()).default({}).describe('Field renames, old name → new name.'),
    separator: text().default('_').describe('Separator joining nested object keys. Default "_".'),
    integers: z.array(text()).default([]).describe('Fields written as InfluxDB integers (other numbers are floats).'),
    tag_keys: z.array(text()).default([]).describe('Payload keys whose values become tags instead of fields.'),
    time_key: text().optional().describe('Payload key (dotted path allowed) holding the event time. Default: arrival time.'),
    time_unit: z.enum(['s', 'ms', 'us', 'ns', 'iso']).default('ms').describe('Unit of time_key: s, ms, us, ns or iso (ISO 8601). Default ms.'),
    strings: z.enum(['keep', 'drop']).default('keep').describe('String values: keep as string fields, or drop. Default keep.'),
  })
  .describe('Options for format: json.');
const jsonDefaults = jsonOptions.parse({});

export const ruleSchema = z
  .strictObject({
    topic: z
      .string()
      .superRefine((t, ctx) => {
        const r = compileTopicTemplate(t);
        if (isTemplateError(r)) ctx.addIssue({ code: 'custom', message: `invalid topic template: ${r.error}` });
      })
      .describe('Topic template: MQTT levels, "+", a trailing "#", and {name} levels that capture (e.g. sensors/{location}/{device}/{measurement}).'),
    format: z.enum(['json', 'number', 'line_protocol']).describe('Payload format: json, number or line_protocol.'),
    measurement: text().optional().describe('Measurement name or {capture} template. Default: the {measurement} capture.'),
    tags: z.record(text(), z.string()).default({}).describe('Static tags added to every reading; values may use {captures}.'),
    drop_tags: z.array(text()).default([]).describe('Captured topic levels NOT turned into tags.'),
    json: jsonOptions.optional(),
    number: z
      .strictObject({ field: text().optional().describe('Field name or {capture}. Default: the {field} capture, else "value".') })
      .optional()
      .describe('Options for format: number.'),
    pipeline: pipelineSchema.default([]).describe("Shaping steps for this rule's readings, applied before the global pipeline."),
  })
  .transform((r, ctx) => {
    checkRuleReferences(r, ctx);
    const { json, number, ...rest } = r;
    return { ...rest, json: json ?? jsonDefaults, number: number ?? {} };
  })
  .describe('How messages on matching topics become readings. The first matching rule wins.');

interface RuleRefs {
  topic: string;
  format: string;
  measurement?: string | undefined;
  tags: Record<string, string>;
  drop_tags: string[];
  json?: unknown;
  number?: { field?: string | undefined } | undefined;
}

/** Captures referenced by measurement, tags, number.field and drop_tags must exist in the topic. */
function checkRuleReferences(r: RuleRefs, ctx: Ctx): void {
  const t = compileTopicTemplate(r.topic);
  if (isTemplateError(t)) return;
  const names = new Set(t.names);
  const refs = (value: string, path: (string | number)[]) => {
    const v = compileValueTemplate(value);
    if (isTemplateError(v)) return ctx.addIssue({ code: 'custom', message: `invalid template: ${v.error}`, path });
    for (const n of v.names) {
      if (!names.has(n)) ctx.addIssue({ code: 'custom', message: `{${n}} is not a capture of topic "${r.topic}"`, path });
    }
  };
  if (r.measurement !== undefined) refs(r.measurement, ['measurement']);
  else if (r.format !== 'line_protocol' && !names.has('measurement')) {
    ctx.addIssue({ code: 'custom', message: 'no measurement: set measurement, or add a {measurement} level to topic', path: ['measurement'] });
  }
  for (const [k, v] of Object.entries(r.tags)) refs(v, ['tags', k]);
  r.drop_tags.forEach((n, i) => {
    if (!names.has(n)) ctx.addIssue({ code: 'custom', message: `"${n}" is not a capture of topic "${r.topic}"`, path: ['drop_tags', i] });
  });
  if (r.number?.field !== undefined) refs(r.number.field, ['number', 'field']);
  if (r.json !== undefined && r.format !== 'json') ctx.addIssue({ code: 'custom', message: 'json options need format: json', path: ['json'] });
  if (r.number !== undefined && r.format !== 'number') ctx.addIssue({ code: 'custom', message: 'number options need format: number', path: ['number'] });
}
