/**
 * The runtime of device profiles: the profiles that the config puts to use (MQTT device
 * entries, serial ports naming a profile), compiled once (bindings.ts); `decode()` is the
 * hot path.
 *
 * Matching: a message from a serial port with a profile goes to that profile (its topic
 * and source id are the port id); any other message is matched against the MQTT bindings
 * in config order, each binding's data topics then its availability topics; the first
 * match decodes it. No match: `undefined` (the caller lets its topic rules try).
 * `bindingFor()` names that binding without decoding (the shaping stage routes a message's
 * readings to its binding's `pipeline`): bindings are numbered MQTT first, then serial,
 * each in config order, the order of `pipelines`.
 *
 * A reading: measurement and tags from its series (series.ts); fields from the profile's
 * field layer (fields.ts); time from the payload when the decoder found one and the
 * profile says `time: payload`, else the arrival time.
 */
import { coveringFilters } from '../../util/topic-template.js';
import type { PipelineConfig } from '../../config/schema-pipeline.js';
import type { FieldValue, MessageData, RawMessage, Reading } from '../../types.js';
import { checkBindings, compileBinding, type Availability, type Binding, type DeviceDecodersOptions } from './bindings.js';
import { parseJsonObject, payloadText, isProfileError } from './decoders/text.js';
import { seriesFor, type TopicEntry } from './series.js';
import { profileError, type DeviceDecodeResult, type ProfileDecodeError } from './types.js';

export { checkBindings, type DeviceDecodersOptions, type MqttBindingConfig, type SerialBindingConfig } from './bindings.js';

/** What an MQTT topic resolves to, with its binding's index (undefined: none). */
interface CachedTopic extends TopicEntry {
  readonly index: number | undefined;
}

export class DeviceDecoders {
  private readonly mqtt: Binding[] = [];
  /** Port id → its binding and the binding's index (after the MQTT bindings). */
  private readonly serial = new Map<string, { readonly binding: Binding; readonly index: number }>();
  private readonly maxPayload: number;
  /** Scratch for `matchInto` (captures are not needed to name a binding). */
  private readonly scratch: string[] = [];
  /** MQTT topic → what it resolves to; insertion order, the oldest evicted past MAX_CACHED_TOPICS. */
  private readonly topics = new Map<string, CachedTopic>();
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
    for (const b of mqtt) this.mqtt.push(compileBinding(b.profile, { ...b.profile.spec.vars, ...b.vars }, b.tags ?? {}, b.measurement, max) as Binding);
    serial.forEach((s, i) =>
      this.serial.set(s.port, { binding: compileBinding(s.profile, {}, s.tags ?? {}, undefined, max) as Binding, index: mqtt.length + i }),
    );
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
   * topics), or `undefined` when no profile matches; an index into `pipelines`. A topic
   * that `decode()` has seen is answered from its cache entry.
   */
  bindingFor(msg: Pick<RawMessage, 'sourceId' | 'topic'>): number | undefined {
    const s = this.serial.get(msg.sourceId);
    if (s !== undefined && msg.topic === msg.sourceId) return s.index;
    const cached = this.topics.get(msg.topic);
    if (cached !== undefined) return cached.index;
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
    const s = this.serial.get(msg.sourceId);
    if (s !== undefined && msg.topic === msg.sourceId) return this.decodeWith(s.binding, msg, { device: msg.sourceId }, undefined);
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
  private resolve(topic: string): CachedTopic {
    for (let index = 0; index < this.mqtt.length; index++) {
      const b = this.mqtt[index] as Binding;
      for (const t of b.topics) {
        const captures = t.match(topic);
        if (captures !== null) return cachedTopic(b, undefined, captures, index);
      }
      for (const a of b.availability) {
        const captures = a.tpl.match(topic);
        if (captures !== null) return cachedTopic(b, a, captures, index);
      }
    }
    return NO_BINDING;
  }

  /** `entry`: the topic's cache entry (MQTT), which keeps its series (series.ts); undefined for a serial port. */
  private decodeWith(b: Binding, msg: MessageData, captures: Readonly<Record<string, string>>, entry: TopicEntry | undefined): DeviceDecodeResult {
    if (msg.payload.length > this.maxPayload)
      return profileError('payload_too_large', `payload of ${msg.payload.length} bytes exceeds limits.max_payload (${this.maxPayload})`);
    let records;
    try {
      records = b.fn({ topic: msg.topic, payload: msg.payload, receivedAt: msg.receivedAt, captures, memory: b.memory });
    } catch (e) {
      return internalError(b, e);
    }
    if (isProfileError(records)) return records;
    const out: Reading[] = [];
    for (const r of records) {
      const fields = b.fields.apply(r.values);
      if (isProfileError(fields)) return fields;
      if (isEmpty(fields)) continue;
      const series = seriesFor(b, entry, r.tags, captures);
      if (isProfileError(series)) return series;
      const time = b.profile.spec.time === 'payload' && r.time !== undefined ? r.time : msg.receivedAt;
      out.push({ measurement: series.measurement, tags: series.tags, fields: fields as Record<string, FieldValue>, time });
    }
    if (out.length === 0 && records.length > 0) return profileError('no_fields', "no fields left after the profile's field declarations");
    return out;
  }
}

/** A topic's new cache entry: one object, its series state empty (series.ts). */
function cachedTopic(
  binding: Binding | undefined,
  availability: Availability | undefined,
  captures: Readonly<Record<string, string>>,
  index: number | undefined,
): CachedTopic {
  return { binding, availability, captures, series: undefined, index };
}

const NO_BINDING: CachedTopic = cachedTopic(undefined, undefined, {}, undefined);

/** Topics remembered (a device's topics repeat; 10,000 devices are a normal site); past this the oldest are forgotten. */
const MAX_CACHED_TOPICS = 16_384;

function internalError(b: Binding, e: unknown): ProfileDecodeError {
  return profileError('internal_error', `decoder ${b.profile.decoder.name}: ${e instanceof Error ? e.message : String(e)}`);
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
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

export type { ProfileDecodeError };
