/**
 * The runtime of device profiles: the profiles that the config puts to use (MQTT device
 * entries, serial ports naming a profile), compiled once; `decode()` is the hot path.
 *
 * Matching: a message from a serial port with a profile goes to that profile (its topic
 * and source id are the port id); any other message is matched against the MQTT bindings
 * in config order, each binding's data topics then its availability topics; the first
 * match decodes it. No match: `undefined` (the caller lets its topic rules try).
 * `bindingFor()` names that binding without decoding (the shaping stage routes a message's
 * readings to its binding's `pipeline`): bindings are numbered MQTT first, then serial,
 * each in config order, the order of `pipelines`.
 *
 * A reading: measurement = the profile's template (or the binding's override) rendered
 * with topic captures, decoder tags and static tags; tags = decoder tags, then topic
 * captures, then the profile's static tags, then the binding's tags (later wins; the
 * topic is what the broker authenticates, so a payload cannot relabel its device),
 * minus `drop_tags`, empty values left out; fields from the profile's field layer; time
 * from the payload when the decoder found one and the profile says `time: payload`, else
 * the arrival time.
 */
import {
  coveringFilters,
  compileTopicTemplate,
  compileValueTemplate,
  filterCovers,
  isTemplateError,
  type TopicTemplate,
  type ValueTemplate,
} from '../../util/topic-template.js';
import type { PipelineConfig } from '../../config/schema-pipeline.js';
import type { FieldValue, MessageData, RawMessage, Reading } from '../../types.js';
import { compileFields, type CompiledFields } from './fields.js';
import type { FormatFn } from './decoders/index.js';
import { fillVars, type Profile, type ProfileProblem } from './profile.js';
import { parseJsonObject, payloadText, isProfileError } from './decoders/text.js';
import { BoundedMemory, profileError, type DeviceDecodeResult, type DeviceState, type ProfileDecodeError } from './types.js';

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

interface Availability {
  readonly tpl: TopicTemplate;
  readonly jsonKey: string | undefined;
  readonly states: ReadonlyMap<string, DeviceState>;
}

interface Binding {
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
  /** Field name → unit, for the declared fields that name one (the status page shows them). */
  readonly units: Readonly<Record<string, string>>;
}

export class DeviceDecoders {
  private readonly mqtt: Binding[] = [];
  /** Port id → its binding and the binding's index (after the MQTT bindings). */
  private readonly serial = new Map<string, { readonly binding: Binding; readonly index: number }>();
  private readonly maxPayload: number;
  /** Scratch for `matchInto` (captures are not needed to name a binding). */
  private readonly scratch: string[] = [];
  /** MQTT topic → what it resolves to; insertion order, the oldest evicted past MAX_CACHED_TOPICS. */
  private readonly topics = new Map<string, TopicEntry>();
  /** Each binding's shaping steps, by binding index (MQTT bindings in config order, then serial ports). */
  readonly pipelines: readonly PipelineConfig[];

  /** Compiles the bindings; throws listing every problem (see `checkBindings`). */
  constructor(opts: DeviceDecodersOptions) {
    const problems = checkBindings(opts);
    if (problems.length > 0) throw new Error(`invalid device bindings: ${problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ')}`);
    this.maxPayload = opts.maxPayload ?? 256 * 1024;
    const max = opts.maxMemory ?? 1000;
    const mqtt = opts.mqtt ?? [];
    const serial = opts.serial ?? [];
    for (const b of mqtt) this.mqtt.push(compile(b.profile, { ...b.profile.spec.vars, ...b.vars }, b.tags ?? {}, b.measurement, max) as Binding);
    serial.forEach((s, i) => this.serial.set(s.port, { binding: compile(s.profile, {}, s.tags ?? {}, undefined, max) as Binding, index: mqtt.length + i }));
    this.pipelines = [...mqtt, ...serial].map((b) => b.pipeline ?? []);
  }

  /** MQTT subscription filters covering every binding's topics, without overlaps. */
  filters(): string[] {
    return coveringFilters(this.mqtt.flatMap((b) => [...b.topics, ...b.availability.map((a) => a.tpl)].map((t) => t.filter)));
  }

  /** MQTT filters of the topics the bindings' devices publish that carry no readings (`mqtt.ignore`). */
  ignoreFilters(): string[] {
    return coveringFilters(this.mqtt.flatMap((b) => b.ignore.map((t) => t.filter)));
  }

  /** Whether a profile decodes this message (without decoding it). */
  matches(msg: Pick<RawMessage, 'sourceId' | 'topic'>): boolean {
    return this.bindingFor(msg) !== undefined;
  }

  /**
   * Index of the binding that `decode()` uses for this message (its data or availability
   * topics), or `undefined` when no profile matches; an index into `pipelines`.
   */
  bindingFor(msg: Pick<RawMessage, 'sourceId' | 'topic'>): number | undefined {
    const s = this.serial.get(msg.sourceId);
    if (s !== undefined && msg.topic === msg.sourceId) return s.index;
    const out = this.scratch;
    for (let i = 0; i < this.mqtt.length; i++) {
      const b = this.mqtt[i] as Binding;
      for (const t of b.topics) if (t.matchInto(msg.topic, out)) return i;
      for (const a of b.availability) if (a.tpl.matchInto(msg.topic, out)) return i;
    }
    return undefined;
  }

  /**
   * The units the profile of this message's binding declares (field name → unit, e.g.
   * `temperature` → `°C`); `undefined` when no profile matches or none declares a unit.
   */
  units(msg: Pick<RawMessage, 'sourceId' | 'topic'>): Readonly<Record<string, string>> | undefined {
    const i = this.bindingFor(msg);
    if (i === undefined) return undefined;
    const b = i < this.mqtt.length ? this.mqtt[i] : this.serial.get(msg.sourceId)?.binding;
    return b === undefined || Object.keys(b.units).length === 0 ? undefined : b.units;
  }

  /** Readings, a device status, or why not; `undefined` when no profile matches the message. */
  decode(msg: MessageData): DeviceDecodeResult | undefined {
    const s = this.serial.get(msg.sourceId)?.binding;
    if (s !== undefined && msg.topic === msg.sourceId) return this.decodeWith(s, msg, { device: msg.sourceId }, undefined);
    let t = this.topics.get(msg.topic);
    if (t === undefined) {
      t = this.resolve(msg.topic);
      if (this.topics.size >= MAX_CACHED_TOPICS) this.topics.delete(this.topics.keys().next().value as string);
      this.topics.set(msg.topic, t);
    }
    if (t.binding === undefined) return undefined;
    if (t.availability !== undefined) return availability(t.binding, t.availability, msg, t.captures);
    return this.decodeWith(t.binding, msg, t.captures, t);
  }

  /** The binding (data or availability topic) that decodes `topic`, first match in config order. */
  private resolve(topic: string): TopicEntry {
    for (const b of this.mqtt) {
      for (const t of b.topics) {
        const captures = t.match(topic);
        if (captures !== null) return { binding: b, availability: undefined, captures, series: new Map() };
      }
      for (const a of b.availability) {
        const captures = a.tpl.match(topic);
        if (captures !== null) return { binding: b, availability: a, captures, series: new Map() };
      }
    }
    return NO_BINDING;
  }

  /**
   * `entry`: the topic's cache entry (MQTT), which keeps each series' tags and measurement:
   * they depend only on the topic's captures and the record's own tags, so a device's
   * messages share one frozen tags object per series (the line protocol encoder then
   * reuses the series' encoded text) instead of rendering them per reading.
   */
  private decodeWith(b: Binding, msg: MessageData, captures: Readonly<Record<string, string>>, entry: TopicEntry | undefined): DeviceDecodeResult {
    if (msg.payload.length > this.maxPayload)
      return profileError('payload_too_large', `payload of ${msg.payload.length} bytes exceeds limits.max_payload (${this.maxPayload})`);
    let records;
    try {
      records = b.fn({ topic: msg.topic, payload: msg.payload, receivedAt: msg.receivedAt, captures, memory: b.memory });
    } catch (e) {
      return profileError('internal_error', `decoder ${b.profile.decoder.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (isProfileError(records)) return records;
    const out: Reading[] = [];
    for (const r of records) {
      const fields = b.fields.apply(r.values);
      if (isProfileError(fields)) return fields;
      if (isEmpty(fields)) continue;
      const key = entry === undefined ? undefined : seriesKey(r.tags);
      let series = key === undefined ? undefined : entry?.series.get(key);
      if (series === undefined) {
        const made = seriesOf(b, r.tags, captures);
        if (isProfileError(made)) return made;
        series = made;
        if (key !== undefined && entry !== undefined && entry.series.size < MAX_SERIES_PER_TOPIC) entry.series.set(key, series);
      }
      const time = b.profile.spec.time === 'payload' && r.time !== undefined ? r.time : msg.receivedAt;
      out.push({ measurement: series.measurement, tags: series.tags, fields: fields as Record<string, FieldValue>, time });
    }
    if (out.length === 0 && records.length > 0) return profileError('no_fields', "no fields left after the profile's field declarations");
    return out;
  }
}

/** The tags and measurement of one series of a binding. */
interface Series {
  readonly tags: Readonly<Record<string, string>>;
  readonly measurement: string;
}

/** What a topic resolves to: its binding (none: `binding` undefined), availability or data, its captures, its series so far. */
interface TopicEntry {
  readonly binding: Binding | undefined;
  readonly availability: Availability | undefined;
  readonly captures: Readonly<Record<string, string>>;
  /** Series of this topic by their record tags (`seriesKey`). */
  readonly series: Map<string, Series>;
}

const NO_BINDING: TopicEntry = { binding: undefined, availability: undefined, captures: {}, series: new Map() };

/** Topics remembered (a device's topics repeat; 10,000 devices are a normal site); past this the oldest are forgotten. */
const MAX_CACHED_TOPICS = 16_384;
/** Series kept per topic (a Tasmota message has one per sensor object): past this, the others are rendered per reading. */
const MAX_SERIES_PER_TOPIC = 64;

/** A record's own tags as one map key (`''` for none). */
function seriesKey(tags: Readonly<Record<string, string>> | undefined): string {
  if (tags === undefined) return '';
  let key = '';
  for (const k in tags) key += k + '\u0000' + tags[k] + '\u0000';
  return key;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** A record's tags (decoder tags, captures, static tags, the binding's tags) and measurement, frozen; or `no_rule` when the measurement renders empty. */
function seriesOf(
  b: Binding,
  recordTags: Readonly<Record<string, string>> | undefined,
  captures: Readonly<Record<string, string>>,
): Series | ProfileDecodeError {
  const vars: Record<string, string> = { ...recordTags, ...captures };
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) if (v !== '' && !b.dropTags.has(k)) tags[k] = v;
  for (const [k, t] of b.staticTags) {
    const v = t.render(vars);
    vars[k] = v;
    if (v !== '') tags[k] = v;
    else delete tags[k];
  }
  for (const [k, v] of Object.entries(b.extraTags)) if (v !== '') tags[k] = v;
  const measurement = b.measurement.render(vars);
  if (measurement === '') return profileError('no_rule', `profile ${b.profile.spec.name}: the measurement "${b.measurement.source}" renders empty`);
  return { tags: Object.freeze(tags), measurement };
}

function availability(b: Binding, a: Availability, msg: MessageData, captures: Readonly<Record<string, string>>): DeviceDecodeResult {
  const text = msg.payload.length === 0 ? '' : payloadText(msg.payload);
  if (isProfileError(text)) return text;
  let raw = text.trim();
  if (a.jsonKey !== undefined && raw.startsWith('{')) {
    const obj = parseJsonObject(raw);
    if (isProfileError(obj)) return obj;
    const v = obj[a.jsonKey];
    if (typeof v !== 'string') return profileError('wrong_type', `availability: "${a.jsonKey}" is not a string`);
    raw = v;
  }
  const state = a.states.get(raw);
  if (state === undefined)
    return profileError(
      'wrong_type',
      `availability payload "${raw.length > 40 ? raw.slice(0, 40) + '…' : raw}" is none of: ${[...a.states.keys()].join(', ')}`,
    );
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(captures)) if (v !== '' && !b.dropTags.has(k)) tags[k] = v;
  for (const [k, t] of b.staticTags) {
    const v = t.render(captures);
    if (v !== '') tags[k] = v;
  }
  for (const [k, v] of Object.entries(b.extraTags)) if (v !== '') tags[k] = v;
  return { kind: 'device_status', profile: b.profile.spec.name, device: captures.device ?? '', state, raw, tags, time: msg.receivedAt };
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
    const c = compile(b.profile, { ...b.profile.spec.vars, ...b.vars }, b.tags ?? {}, b.measurement, 1);
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

function compile(
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
    units: Object.fromEntries(spec.fields.flatMap((f) => (f.unit ? [[f.name, f.unit] as const] : []))),
  };
}

export type { ProfileDecodeError };
