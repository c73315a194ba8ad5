/**
 * The config file's schema: the single source of truth for what users write (validation,
 * defaults, the JSON Schema for editors) and for what the daemon gets (`Config`, types.ts).
 * Durations become ms, sizes bytes, `*_file` secrets are read, relative paths resolved.
 * `${ENV}` references are substituted before this schema runs (secrets.ts). Each section
 * has its own module (schema-<section>.ts); field builders they share are in schema-fields.ts.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { filterError } from '../util/topic-template.js';
import type { Config } from './types.js';
import { brokerSchema } from './schema-broker.js';
import { durationField as duration, secretReading, sizeField as size, text, type SchemaContext } from './schema-fields.js';
import { mqttSourceSchema } from './schema-mqtt.js';
import { ruleSchema } from './schema-rules.js';
import { outputsSchema } from './schema-outputs.js';
import { spoolSchema } from './schema-spool.js';
import { serviceSchema } from './schema-service.js';
import { createDeviceProfilesSchema, devicesSchema } from './schema-devices.js';
import { serialSchema } from './schema-serial.js';
import { pipelineSchema } from './schema-pipeline.js';

export type { SchemaContext } from './schema-fields.js';

type Ctx = z.core.$RefinementCtx;

const logSchema = z
  .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level. Default info.') })
  .prefault({})
  .describe('Logging (pino JSON on stdout, pretty on a TTY).');

const ignoreSchema = z
  .array(
    z
      .string()
      .superRefine((f, ctx) => {
        const e = f.startsWith('$share/') ? 'a shared subscription is not a topic to ignore' : filterError(f);
        if (e) ctx.addIssue({ code: 'custom', message: e });
      })
      .describe('An MQTT topic filter, e.g. "tele/+/STATE" or "homeassistant/#".'),
  )
  .default([])
  .describe(
    'Topics that carry no readings (device state, discovery, bridge chatter): matching messages are counted as ignored (edgeflux_messages_ignored_total) and go no further: no rule, no journal, no dead letter, no warning. Checked before the rules and profiles.',
  );

function deadLetterSchema(sctx: SchemaContext) {
  return z
    .strictObject({
      path: text()
        .transform((p) => resolve(sctx.baseDir, p))
        .prefault('./edgeflux-dead-letter.jsonl')
        .describe('File for bad messages (JSON lines), relative to the config file. Default ./edgeflux-dead-letter.jsonl.'),
      max_bytes: size('10MiB', 'Size beyond which the file rotates to <path>.1.'),
    })
    .prefault({})
    .describe('Where undecodable messages go, with the reason.');
}

export function createConfigSchema(sctx: SchemaContext) {
  const { plain, pem } = secretReading(sctx);
  return (
    z
      .strictObject({
        log: logSchema,
        broker: brokerSchema(plain, pem),
        mqtt: z.array(mqttSourceSchema(sctx)).default([]).describe('External MQTT brokers to subscribe to.'),
        service: serviceSchema.transform((sv) =>
          sv.http.users_file === undefined ? sv : { ...sv, http: { ...sv.http, users_file: resolve(sctx.baseDir, sv.http.users_file) } },
        ),
        rules: z
          .array(ruleSchema)
          .default([])
          .describe('How topics become readings; the first matching rule decodes a message. At least one unless devices or serial ports are configured.'),
        ignore: ignoreSchema,
        device_profiles: createDeviceProfilesSchema(sctx.baseDir),
        devices: devicesSchema,
        serial: serialSchema,
        outputs: outputsSchema(plain),
        spool: spoolSchema(sctx),
        dead_letter: deadLetterSchema(sctx),
        limits: z
          .strictObject({ max_payload: size('256KiB', 'Largest payload decoded; larger ones are dead-lettered.') })
          .prefault({})
          .describe('Input limits.'),
        pipeline: pipelineSchema
          .default([])
          .describe("Shaping steps for every reading (after its rule's own), per output: window, debounce, deadband, dedupe, throttle, series_limit."),
        shutdown_timeout: duration(
          '10s',
          'Time allowed on SIGTERM to write what is spooled (durable: the rest stays in the journal; memory: the rest is lost).',
          1,
        ),
      })
      .superRefine(crossChecks, { when: () => true })
      // No `subscriptions`: [] here; the daemon subscribes to what the rules and the device
      // profiles need (one covering set, `sourceSubscriptions`). What the rule set
      // refuses is checked once the rules compile (devices/device-config.ts).
      .transform((c) => ({ ...c, mqtt: c.mqtt.map((m) => ({ ...m, subscriptions: m.subscriptions ?? [] })) }))
      .describe('edgeflux configuration. Any string value may use ${ENV} or ${ENV:-default}.')
  );
}

/** Unique ids, and at least one source. Runs even when other parts failed, so reads defensively. */
function crossChecks(c: Record<string, unknown>, ctx: Ctx): void {
  for (const [key, what] of [
    ['outputs', 'output'],
    ['mqtt', 'mqtt source'],
  ] as const) {
    const seen = new Map<string, number>();
    (Array.isArray(c[key]) ? (c[key] as unknown[]) : []).forEach((item, i) => {
      const v = (item as { id?: unknown } | null)?.id;
      if (typeof v !== 'string') return;
      const first = seen.get(v);
      if (first !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate ${what} id "${v}" (first at ${key}[${first}])`, path: [key, i, 'id'] });
      else if (key === 'mqtt' && (v === 'broker' || v === 'edgeflux'))
        ctx.addIssue({
          code: 'custom',
          message: `id "${v}" is reserved (${v === 'broker' ? 'the embedded broker' : "edgeflux's own figures"})`,
          path: [key, i, 'id'],
        });
      else seen.set(v, i);
    });
  }
  // A list that failed validation is not known to be empty: only report real emptiness.
  const empty = (key: string) => Array.isArray(c[key]) && c[key].length === 0;
  if (c.broker === undefined && empty('mqtt') && empty('serial')) {
    ctx.addIssue({ code: 'custom', message: 'no source: configure broker (the embedded broker), at least one mqtt entry, or a serial port', path: [] });
  }
  if (empty('rules') && empty('devices') && empty('serial')) {
    ctx.addIssue({ code: 'custom', message: 'at least one rule is required (or devices / serial entries that name device profiles)', path: ['rules'] });
  }
}

/**
 * The JSON Schema (draft-07) of the config file for editors (e.g. the YAML language server):
 * the input side, i.e. what users write: durations and sizes as strings or numbers,
 * `*_file` keys, numbers and booleans also as `${ENV}` references.
 */
export function configJsonSchema(): object {
  const schema = createConfigSchema({ baseDir: '.', hostname: '<hostname>' });
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-07', unrepresentable: 'any' });
  return { ...allowEnvReferencesIn(json), title: 'edgeflux configuration' };
}

const ENV_REFERENCE = { type: 'string', pattern: '^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$' };

/** Numbers and booleans may be written as a `${ENV}` reference too (strings already may): any JSON Schema value. */
function allowEnvReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowEnvReferences);
  if (typeof node !== 'object' || node === null) return node;
  return allowEnvReferencesIn(node);
}

/** `allowEnvReferences` of one schema object (its keys, then the object itself). */
function allowEnvReferencesIn(node: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'enum' || k === 'default' ? v : allowEnvReferences(v);
  const numericEnum = Array.isArray(out.enum) && out.enum.every((v) => typeof v === 'number');
  if (out.type !== 'integer' && out.type !== 'boolean' && !numericEnum) return out;
  const { description, default: def, ...rest } = out;
  return { ...(description !== undefined && { description }), ...(def !== undefined && { default: def }), anyOf: [rest, ENV_REFERENCE] };
}

export type ConfigSchema = ReturnType<typeof createConfigSchema>;
/** What users write (before `${ENV}` substitution). */
export type ConfigInput = z.input<ConfigSchema>;
/** What the schema produces; must be assignable to `Config` (types.ts). */
export type ConfigOutput = z.output<ConfigSchema>;

type AssertAssignable<T extends U, U> = T;
// Compile-time check: fails to typecheck when the schema's output drifts from types.ts.
export type _SchemaMatchesConfig = AssertAssignable<ConfigOutput, Config>;
