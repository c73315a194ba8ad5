/**
 * The config file's schema: the single source of truth for what users write (validation,
 * defaults, the JSON Schema for editors) and for what the daemon gets (`Config`, types.ts).
 * Durations become ms, sizes bytes, `*_file` secrets are read, relative paths resolved.
 * `${ENV}` references are substituted before this schema runs (secrets.ts).
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { compileTopicTemplate, compileValueTemplate, filterError, isTemplateError } from '../util/topic-template.js';
import { notBoth, secretFields as secret, type ReadSecretOptions, type SecretPolicy } from './secrets.js';
import type { Config } from './types.js';
import { brokerCrossChecks, brokerSecurityFields } from './schema-broker.js';
import { serviceSchema } from './schema-service.js';
import { createDeviceProfilesSchema, devicesSchema } from './schema-devices.js';
import { serialSchema } from './schema-serial.js';
import { pipelineSchema } from './schema-pipeline.js';
import { durationField as duration, formatDuration, parseDuration, parseSize, sizeField as size } from './units.js';

/** What the schema needs from the outside world. */
export interface SchemaContext {
  /** Directory of the config file: relative `*_file` and `dead_letter.path` resolve against it. */
  readonly baseDir: string;
  /** For the default MQTT client id `edgeflux-<hostname>-<id>`. */
  readonly hostname: string;
  /** The environment, for `$STATE_DIRECTORY` (systemd's StateDirectory=); default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Absent: secrets are read, an unreadable one is an error (the daemon). */
  readonly secrets?: SecretPolicy;
}

const ENV_HINT = '; may be a ${ENV} reference';
type Ctx = z.core.$RefinementCtx;

const digits = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
const boolText = (v: unknown): unknown => (v === 'true' ? true : v === 'false' ? false : v);

/** An integer; a digits-only string (from `${ENV}`) is accepted too. */
const int = (min: number, max: number) => z.preprocess(digits, z.int().min(min).max(max));
const bool = () => z.preprocess(boolText, z.boolean());
const text = () => z.string().min(1);

const id = (about: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "." and "-" (starting with a letter or digit)').describe(about);

function url(protocols: readonly string[], about: string) {
  return z
    .string()
    .superRefine((s, ctx) => {
      const scheme = URL.canParse(s) ? new URL(s).protocol : undefined;
      if (!scheme) ctx.addIssue({ code: 'custom', message: `invalid URL (expected ${protocols.join('//, ')}//...)` });
      else if (!protocols.includes(scheme)) ctx.addIssue({ code: 'custom', message: `URL scheme must be one of ${protocols.join('//, ')}//` });
    })
    .describe(about);
}

/** `{ initial, max }` backoff delays in ms, initial <= max. */
const backoff = (about: string) =>
  z
    .strictObject({
      initial: duration('1s', 'First delay.', 1),
      max: duration('60s', 'Largest delay (the delay doubles up to it, with jitter).', 1),
    })
    .superRefine((b, ctx) => {
      if (b.initial > b.max) ctx.addIssue({ code: 'custom', message: 'must not exceed max', path: ['initial'] });
    })
    .prefault({})
    .describe(about);

export function createConfigSchema(sctx: SchemaContext) {
  const policy = sctx.secrets && { policy: sctx.secrets };
  const plain: ReadSecretOptions = { baseDir: sctx.baseDir, trimNewline: true, ...policy };
  const pem: ReadSecretOptions = { baseDir: sctx.baseDir, trimNewline: false, ...policy };

  const tls = z
    .strictObject({
      ...secret('ca', 'CA certificate(s), PEM.', pem),
      ...secret('cert', 'Client certificate, PEM.', pem),
      ...secret('key', 'Client private key, PEM.', pem),
      reject_unauthorized: bool().prefault(true).describe(`Verify the server certificate. Default true${ENV_HINT}.`),
    })
    .superRefine(...notBoth('ca', 'cert', 'key'))
    .superRefine(
      (t, ctx) => {
        const has = (n: 'cert' | 'key') => t?.[n] !== undefined || t?.[`${n}_file`] !== undefined;
        if (has('cert') !== has('key')) ctx.addIssue({ code: 'custom', message: 'a client certificate needs both cert and key', path: [has('cert') ? 'key_file' : 'cert_file'] });
      },
      { when: () => true },
    )
    .transform((t) => ({ ca: t.ca ?? t.ca_file, cert: t.cert ?? t.cert_file, key: t.key ?? t.key_file, reject_unauthorized: t.reject_unauthorized }))
    .describe('TLS settings (use an mqtts:// or wss:// URL).');

  const subscription = z
    .strictObject({
      topic: z
        .string()
        .superRefine((f, ctx) => {
          const e = filterError(f);
          if (e) ctx.addIssue({ code: 'custom', message: e });
        })
        .describe('MQTT topic filter; "$share/<group>/<filter>" splits one stream among instances.'),
      qos: z.preprocess(digits, z.literal([0, 1, 2])).prefault(1).describe('0, 1 or 2. Default 1.'),
    })
    .describe('A topic filter to subscribe to.');

  const mqttSource = z
    .strictObject({
      id: id('Unique id of this source (in logs, metrics and the default client id).'),
      url: url(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'Broker URL: mqtt://host:1883, mqtts:// for TLS, ws:// or wss://.'),
      protocol_version: z.preprocess(digits, z.literal([4, 5])).prefault(4).describe('4 (MQTT 3.1.1) or 5. Default 4.'),
      client_id: text().max(65535).optional().describe('Stable client id, so the broker keeps the session. Default edgeflux-<hostname>-<id>.'),
      clean: bool().prefault(false).describe('Start a clean session (false: persistent session, missed QoS 1 messages are redelivered). Default false.'),
      session_expiry: duration('1d', 'MQTT 5 session expiry.', 0, (2 ** 32 - 1) * 1000),
      keepalive: duration('30s', 'Keepalive interval.', 0, 65535 * 1000),
      connect_timeout: duration('10s', 'Connect timeout.', 1),
      reconnect: backoff('Reconnect backoff (capped, with jitter).'),
      username: text().optional().describe('Username.'),
      ...secret('password', 'Password.', plain),
      tls: tls.optional(),
      subscriptions: z.array(subscription).min(1).optional().describe("Topic filters to subscribe to. Default: what the rules and device profiles need, at QoS 1, without overlaps."),
    })
    .superRefine(...notBoth('password'))
    .transform((m, ctx) => {
      if (m.tls && /^(mqtt|ws):/.test(m.url)) {
        ctx.addIssue({ code: 'custom', message: 'tls is set but the URL is not mqtts:// or wss://', path: ['tls'] });
      }
      const { password_file, client_id, ...rest } = m;
      return { ...rest, password: m.password ?? password_file, client_id: client_id ?? `edgeflux-${sctx.hostname}-${m.id}` };
    })
    .describe('An external MQTT broker to subscribe to.');

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

  const rule = z
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

  const outputBase = {
    id: id('Unique id of this output.'),
    url: url(['http:', 'https:'], 'InfluxDB base URL, e.g. http://127.0.0.1:8086.'),
    timeout: duration('10s', 'Timeout per write request.', 1),
    gzip: bool().prefault(false).describe('Compress request bodies. Default false.'),
    batch: z
      .strictObject({
        max_points: int(1, 1_000_000).prefault(5000).describe(`Points per write, at most. Default 5000${ENV_HINT}.`),
        max_age: duration('1s', 'Oldest point in a batch, at most.', 1),
      })
      .prefault({})
      .describe('A batch is written when it is full or old enough, whichever comes first.'),
    retry: backoff('Retry backoff for failed writes (exponential, with jitter; Retry-After honoured).'),
    concurrency: int(1, 64).prefault(1).describe(`Write requests in flight. Default 1${ENV_HINT}.`),
  };
  const influxV1 = z
    .strictObject({
      type: z.literal('influxdb_v1').describe('InfluxDB 1.x /write API.'),
      ...outputBase,
      database: text().describe('Database.'),
      retention_policy: text().optional().describe('Retention policy. Default: the database default.'),
      username: text().optional().describe('Username.'),
      ...secret('password', 'Password.', plain),
    })
    .superRefine(...notBoth('password'))
    .transform(({ password_file, ...o }) => ({ ...o, password: o.password ?? password_file }));
  const influxV2 = z
    .strictObject({
      type: z.literal('influxdb_v2').describe('InfluxDB 2.x/3.x /api/v2/write API.'),
      ...outputBase,
      org: text().describe('Organization.'),
      bucket: text().describe('Bucket (InfluxDB 3: database).'),
      ...secret('token', 'API token.', plain),
    })
    .superRefine(...notBoth('token'))
    .transform(({ token_file, ...o }) => ({ ...o, token: o.token ?? token_file }));

  const needOne = (what: string) => ({
    error: (iss: { code: string; input?: unknown }) =>
      iss.code === 'too_small' || (iss.code === 'invalid_type' && iss.input === undefined) ? `at least one ${what} is required` : undefined,
  });

  return z
    .strictObject({
      log: z
        .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level. Default info.') })
        .prefault({})
        .describe('Logging (pino JSON on stdout, pretty on a TTY).'),
      broker: z
        .strictObject({
          host: text().default('127.0.0.1').describe('Address to bind. Default 127.0.0.1.'),
          port: int(0, 65535).prefault(1883).describe(`TCP port; 0 = any free port. Default 1883${ENV_HINT}.`),
          ...brokerSecurityFields(plain, pem),
        })
        .superRefine(brokerCrossChecks)
        .transform(({ password_file, users, ...b }) => ({ ...b, users: [...users, ...(password_file ?? [])] }))
        .optional()
        .describe('The embedded MQTT broker (in process). Absent: none.'),
      mqtt: z.array(mqttSource).default([]).describe('External MQTT brokers to subscribe to.'),
      service: serviceSchema.transform((sv) => (sv.http.users_file === undefined ? sv : { ...sv, http: { ...sv.http, users_file: resolve(sctx.baseDir, sv.http.users_file) } })),
      rules: z.array(rule).default([]).describe('How topics become readings; the first matching rule decodes a message. At least one unless devices or serial ports are configured.'),
      ignore: z
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
        ),
      device_profiles: createDeviceProfilesSchema(sctx.baseDir),
      devices: devicesSchema,
      serial: serialSchema,
      outputs: z.array(z.discriminatedUnion('type', [influxV1, influxV2]), needOne('output')).min(1).describe('Where readings are written.'),
      spool: spoolSchema(sctx),
      dead_letter: z
        .strictObject({
          path: text()
            .transform((p) => resolve(sctx.baseDir, p))
            .prefault('./edgeflux-dead-letter.jsonl')
            .describe('File for bad messages (JSON lines), relative to the config file. Default ./edgeflux-dead-letter.jsonl.'),
          max_bytes: size('10MiB', 'Size beyond which the file rotates to <path>.1.'),
        })
        .prefault({})
        .describe('Where undecodable messages go, with the reason.'),
      limits: z.strictObject({ max_payload: size('256KiB', 'Largest payload decoded; larger ones are dead-lettered.') }).prefault({}).describe('Input limits.'),
      pipeline: pipelineSchema.default([]).describe('Shaping steps for every reading (after its rule\'s own), per output: window, debounce, deadband, dedupe, throttle, series_limit.'),
      shutdown_timeout: duration('10s', 'Time allowed on SIGTERM to write what is spooled (durable: the rest stays in the journal; memory: the rest is lost).', 1),
    })
    .superRefine(crossChecks, { when: () => true })
    // No `subscriptions`: [] here; the daemon subscribes to what the rules and the device
    // profiles need (one covering set, MqttSource `defaultFilters`). What the rule set
    // refuses is checked once the rules compile (devices/device-config.ts).
    .transform((c) => ({ ...c, mqtt: c.mqtt.map((m) => ({ ...m, subscriptions: m.subscriptions ?? [] })) }))
    .describe('edgeflux configuration. Any string value may use ${ENV} or ${ENV:-default}.');
}

const MiB = 1024 * 1024;
const MIN_SEGMENT = 4096;

/** A size without a default (the default depends on another key); parsed to bytes. */
function optionalSize(about: string, min: number) {
  return z
    .union([z.string(), z.number()], { error: 'expected a size such as "64MiB" or a number of bytes' })
    .transform((v, ctx) => {
      const r = parseSize(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
      else if (r.value < min) ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes`, input: v });
      return r.ok ? r.value : z.NEVER;
    })
    .optional()
    .describe(`${about} Size: "512KiB", "64MiB", "1GiB" or a number of bytes.`);
}

/** `always`, or a duration between fsyncs. */
const syncField = z
  .union([z.string(), z.number()], { error: 'expected "always" or a duration such as "100ms"' })
  .transform((v, ctx): 'always' | number => {
    if (v === 'always') return 'always';
    const r = parseDuration(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `${r.error}, or "always"`, input: v });
    else if (r.value < 1 || r.value > 60_000) ctx.addIssue({ code: 'custom', message: `must be between 1ms and ${formatDuration(60_000)}, or "always"`, input: v });
    return r.ok ? r.value : z.NEVER;
  })
  .prefault('100ms')
  .describe('When the journal is fsynced: "always" (after every append: power loss costs nothing, slowest) or a duration such as "100ms" (power loss costs at most that much; kill -9 costs nothing either way). Default 100ms.');

/** The `spool:` section; the default dir is $STATE_DIRECTORY/spool (systemd), else ./spool next to the config file. */
function spoolSchema(sctx: SchemaContext) {
  return z
    .strictObject({
      mode: z
        .enum(['durable', 'memory'])
        .default('durable')
        .describe('durable: messages are journaled on disk before they are acknowledged (survives outages, kill -9, restarts); memory: a bounded RAM queue, acknowledged on receipt, lost in a crash. Default durable.'),
      dir: text()
        .optional()
        .describe('Journal directory (durable mode), relative to the config file. Default $STATE_DIRECTORY/spool when set (systemd StateDirectory=), else ./spool; for the service: /var/lib/edgeflux/spool.'),
      sync: syncField,
      max_bytes: optionalSize('Quota: the most the spool holds. Default 1GiB (durable) or 64MiB (memory).', 64 * 1024),
      segment_bytes: optionalSize('Journal segment size; space is freed a whole segment at a time. Default 16MiB (at most a quarter of max_bytes).', MIN_SEGMENT),
      policy: z
        .enum(['drop-oldest', 'block'])
        .default('drop-oldest')
        .describe('At the quota: drop-oldest (telemetry: the oldest messages are dropped and counted) or block (stop acknowledging: the broker keeps the data). Default drop-oldest.'),
    })
    .transform((s, ctx) => {
      const maxBytes = s.max_bytes ?? (s.mode === 'memory' ? 64 * MiB : 1024 * MiB);
      if (s.mode === 'durable' && s.segment_bytes !== undefined && s.segment_bytes * 4 > maxBytes) {
        ctx.addIssue({ code: 'custom', message: `must be at most a quarter of max_bytes (${maxBytes} bytes): the quota frees space a whole segment at a time`, path: ['segment_bytes'], input: s.segment_bytes });
      }
      const stateDir = (sctx.env ?? process.env).STATE_DIRECTORY?.split(':')[0];
      const dir = s.dir !== undefined ? resolve(sctx.baseDir, s.dir) : stateDir ? join(resolve(stateDir), 'spool') : resolve(sctx.baseDir, 'spool');
      const segmentBytes = s.segment_bytes ?? Math.max(MIN_SEGMENT, Math.min(16 * MiB, Math.floor(maxBytes / 4)));
      return { mode: s.mode, dir, sync: s.sync, max_bytes: maxBytes, segment_bytes: segmentBytes, policy: s.policy };
    })
    .prefault({})
    .describe('Where accepted messages wait until every output has written them: mode, journal directory, fsync policy, quota and what happens at the quota.');
}

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

/** Unique ids, and at least one source. Runs even when other parts failed, so reads defensively. */
function crossChecks(c: Record<string, unknown>, ctx: Ctx): void {
  for (const [key, what] of [['outputs', 'output'], ['mqtt', 'mqtt source']] as const) {
    const seen = new Map<string, number>();
    (Array.isArray(c[key]) ? (c[key] as unknown[]) : []).forEach((item, i) => {
      const v = (item as { id?: unknown } | null)?.id;
      if (typeof v !== 'string') return;
      const first = seen.get(v);
      if (first !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate ${what} id "${v}" (first at ${key}[${first}])`, path: [key, i, 'id'] });
      else if (key === 'mqtt' && (v === 'broker' || v === 'edgeflux')) ctx.addIssue({ code: 'custom', message: `id "${v}" is reserved (${v === 'broker' ? 'the embedded broker' : "edgeflux's own figures"})`, path: [key, i, 'id'] });
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
  return { ...allowEnvReferences(json), title: 'edgeflux configuration' };
}

const ENV_REFERENCE = { type: 'string', pattern: '^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$' };

/** Numbers and booleans may be written as a `${ENV}` reference too (strings already may). */
function allowEnvReferences(node: unknown): Record<string, unknown> {
  if (Array.isArray(node)) return node.map(allowEnvReferences) as unknown as Record<string, unknown>;
  if (typeof node !== 'object' || node === null) return node as Record<string, unknown>;
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
