/**
 * Device bindings: a profile put to use (an MQTT `devices:` entry or a serial port naming
 * a profile), compiled once with its vars, tags and measurement: topic templates, the
 * format decoder, the field layer, the tag and measurement templates. `checkBindings`
 * lists every problem of a set of bindings (templates, shadowed topics, transport).
 */
import {
  compileTopicTemplate,
  compileValueTemplate,
  filterCovers,
  isTemplateError,
  type TopicTemplate,
  type ValueTemplate,
} from '../../util/topic-template.js';
import type { PipelineConfig } from '../../config/schema-pipeline.js';
import { compileFields, type CompiledFields } from './fields.js';
import type { FormatFn } from './decoders/index.js';
import { fillVars, type Profile, type ProfileProblem } from './profile.js';
import { BoundedMemory, type DeviceState } from './types.js';

/** A profile put to use for MQTT devices (`devices:` entry). */
export interface MqttBindingConfig {
  readonly profile: Profile;
  /** Overrides of the profile's %vars%. */
  readonly vars?: Readonly<Record<string, string>>;
  readonly tags?: Readonly<Record<string, string>>;
  readonly measurement?: string | undefined;
  /** Shaping steps for these readings (the entry's own, else the profile's); default none. */
  readonly pipeline?: PipelineConfig;
}

/** A profile put to use for one serial port. */
export interface SerialBindingConfig {
  readonly port: string;
  readonly profile: Profile;
  readonly tags?: Readonly<Record<string, string>>;
  /** Shaping steps for this port's readings (the port's own, else the profile's); default none. */
  readonly pipeline?: PipelineConfig;
}

export interface DeviceDecodersOptions {
  readonly mqtt?: readonly MqttBindingConfig[];
  readonly serial?: readonly SerialBindingConfig[];
  /** Largest payload decoded (limits.max_payload); default 256 KiB. */
  readonly maxPayload?: number;
  /** Entries each binding may remember (Homie descriptions, CSV headers); default 1000. */
  readonly maxMemory?: number;
}

export interface Availability {
  readonly tpl: TopicTemplate;
  readonly jsonKey: string | undefined;
  readonly states: ReadonlyMap<string, DeviceState>;
}

export interface Binding {
  readonly profile: Profile;
  readonly topics: readonly TopicTemplate[];
  /** Topics of the device that carry no readings (`mqtt.ignore`). */
  readonly ignore: readonly TopicTemplate[];
  readonly availability: readonly Availability[];
  readonly fn: FormatFn;
  readonly fields: CompiledFields;
  readonly measurement: ValueTemplate;
  readonly staticTags: readonly (readonly [string, ValueTemplate])[];
  readonly extraTags: Readonly<Record<string, string>>;
  readonly dropTags: ReadonlySet<string>;
  readonly memory: BoundedMemory;
  /**
   * Record tags objects by content (series.ts `sharedTags`): the series of every topic of
   * the binding refer to one `{sensor: "ENERGY"}`, not one each.
   */
  readonly recordTags: Map<string, Readonly<Record<string, string>>>;
  /** Field name → unit, for the declared fields that name one (the status page shows them). */
  readonly units: Readonly<Record<string, string>>;
}

/** Every problem of a set of bindings (templates, shadowed topics, transport). */
export function checkBindings(opts: DeviceDecodersOptions): ProfileProblem[] {
  const problems: ProfileProblem[] = [];
  const seen: { filter: string; index: number }[] = [];
  (opts.mqtt ?? []).forEach((b, i) => {
    if (b.profile.spec.mqtt === undefined)
      return problems.push({
        path: ['devices', i, 'profile'],
        message: `profile "${b.profile.spec.name}" is a serial profile: name it in a serial port (serial[].profile)`,
      });
    const c = compileBinding(b.profile, { ...b.profile.spec.vars, ...b.vars }, b.tags ?? {}, b.measurement, 1);
    if (!('profile' in c)) return problems.push(...c.map((p) => ({ path: ['devices', i, ...p.path], message: p.message })));
    for (const t of [...c.topics, ...c.availability.map((a) => a.tpl)]) {
      const earlier = seen.find((s) => filterCovers(s.filter, t.filter));
      if (earlier !== undefined && earlier.index !== i)
        problems.push({ path: ['devices', i], message: `topic "${t.template}" is never decoded by this entry: devices[${earlier.index}] matches it first` });
    }
    for (const t of [...c.topics, ...c.availability.map((a) => a.tpl)]) seen.push({ filter: t.filter, index: i });
    return undefined;
  });
  (opts.serial ?? []).forEach((s, i) => {
    if (s.profile.spec.serial === undefined)
      problems.push({ path: ['serial', i, 'profile'], message: `profile "${s.profile.spec.name}" is an MQTT profile: name it in devices[].profile` });
  });
  return problems;
}

export function compileBinding(
  profile: Profile,
  vars: Readonly<Record<string, string>>,
  extraTags: Readonly<Record<string, string>>,
  measurement: string | undefined,
  maxMemory: number,
): Binding | ProfileProblem[] {
  const spec = profile.spec;
  const problems: ProfileProblem[] = [];
  const topic = (source: string, path: (string | number)[]): TopicTemplate | undefined => {
    const filled = fillVars(source, vars);
    const t = typeof filled === 'string' ? compileTopicTemplate(filled) : filled;
    if (isTemplateError(t)) problems.push({ path, message: `${source}: ${t.error}` });
    return isTemplateError(t) ? undefined : t;
  };
  const topics = (spec.mqtt?.topics ?? []).map((t) => topic(t, ['vars'])).filter((t): t is TopicTemplate => t !== undefined);
  const ignore = (spec.mqtt?.ignore ?? []).map((t) => topic(t, ['vars'])).filter((t): t is TopicTemplate => t !== undefined);
  const avail: Availability[] = [];
  for (const a of spec.mqtt?.availability ?? []) {
    const tpl = topic(a.topic, ['vars']);
    if (tpl === undefined) continue;
    const states = new Map<string, DeviceState>();
    for (const st of ['online', 'offline', 'init', 'sleeping'] as const) for (const v of a[st]) states.set(v, st);
    avail.push({ tpl, jsonKey: a.json_key, states });
  }
  const m = compileValueTemplate(measurement ?? spec.measurement);
  if (isTemplateError(m)) problems.push({ path: ['measurement'], message: m.error });
  if (problems.length > 0 || isTemplateError(m)) return problems;
  const declared = new Map(spec.fields.map((f) => [f.from ?? f.name, f.type] as const));
  return {
    profile,
    topics,
    ignore,
    availability: avail,
    fn: profile.decoder.create(profile.params, { declared }),
    fields: compileFields(spec),
    measurement: m,
    staticTags: Object.entries(spec.tags).map(([k, v]) => [k, compileValueTemplate(v) as ValueTemplate] as const),
    extraTags,
    dropTags: new Set(spec.drop_tags),
    memory: new BoundedMemory(maxMemory),
    recordTags: new Map(),
    units: Object.fromEntries(spec.fields.flatMap((f) => (f.unit ? [[f.name, f.unit] as const] : []))),
  };
}
