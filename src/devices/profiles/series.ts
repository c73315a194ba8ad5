/**
 * The series of a binding's readings: a reading's tags (decoder tags, then topic captures,
 * then the profile's static tags, then the binding's tags; later wins; the topic is what
 * the broker authenticates, so a payload cannot relabel its device), minus `drop_tags`,
 * empty values left out, and its measurement rendered from them.
 *
 * They depend only on the topic's captures and the record's own tags, so an MQTT topic's
 * cache entry keeps them: a device's messages share one frozen tags object per series (the
 * line protocol encoder then reuses the series' encoded text) instead of rendering them
 * per reading. The fast way (`FormatFn.into`) also keeps, per record ordinal, the tag
 * values it last saw and their series, found again by comparing those values: no key text
 * and no tags object per record.
 */
import { setProp } from '../../util/own.js';
import type { Binding, Availability } from './bindings.js';
import { profileError, type ProfileDecodeError } from './types.js';

/** The tags and measurement of one series of a binding. */
export interface Series {
  readonly tags: Readonly<Record<string, string>>;
  readonly measurement: string;
}

/**
 * What a topic resolves to: its binding (none: `binding` undefined), availability or data,
 * its captures, and its series so far. Small on purpose (a site has thousands of topics):
 * the fast way's series by record ordinal in an array of exactly their number, their tag
 * values in another (ordinal × the decoder's tag count + tag index), both replaced when one
 * is added; the map by record tags only once the records way, or a record whose tags
 * changed, needs it.
 */
export interface TopicEntry {
  readonly binding: Binding | undefined;
  readonly availability: Availability | undefined;
  readonly captures: Readonly<Record<string, string>>;
  /** Series of this topic by their record tags (`seriesKey`); made when first needed. */
  series: Map<string, Series> | undefined;
  /** The fast way's series by record ordinal, and the decoder tag values each was found for. */
  slots: readonly Series[];
  slotTags: readonly (string | undefined)[];
}

/** The series state of a new topic entry. */
export const NO_SERIES = { series: undefined, slots: [] as readonly Series[], slotTags: [] as readonly (string | undefined)[] } as const;

/** Series kept per topic (a Tasmota message has one per sensor object): past this, the others are rendered per reading. */
const MAX_SERIES_PER_TOPIC = 64;

/** A record's own tags as one map key (`''` for none). */
function seriesKey(tags: Readonly<Record<string, string>> | undefined): string {
  if (tags === undefined) return '';
  let key = '';
  for (const k in tags) key += k + '\u0000' + tags[k] + '\u0000';
  return key;
}

/**
 * The series of a record with these tags: the topic entry's (`entry`, MQTT), or rendered
 * and kept there; `no_rule` when the measurement renders empty.
 */
export function seriesFor(
  b: Binding,
  entry: TopicEntry | undefined,
  recordTags: Readonly<Record<string, string>> | undefined,
  captures: Readonly<Record<string, string>>,
): Series | ProfileDecodeError {
  if (entry === undefined) return seriesOf(b, recordTags, captures);
  const key = seriesKey(recordTags);
  const map = (entry.series ??= new Map());
  let series = map.get(key);
  if (series === undefined) {
    const made = seriesOf(b, recordTags, captures);
    if ('kind' in made) return made;
    series = made;
    if (map.size < MAX_SERIES_PER_TOPIC) map.set(key, series);
  }
  return series;
}

/**
 * The series of the fast way's record number `ordinal` of a message, whose tags are
 * `values` of the decoder's tag keys (`b.decoderTags`, in order): the one found for this
 * ordinal before when the values are the same; else rendered (a new ordinal) or, when the
 * record's tags changed, found in or added to the map (where the one it replaces goes
 * too, so that tags that come back find their series); then kept for the ordinal.
 */
export function seriesAt(
  b: Binding,
  entry: TopicEntry | undefined,
  ordinal: number,
  values: readonly (string | undefined)[] | undefined,
  captures: Readonly<Record<string, string>>,
): Series | ProfileDecodeError {
  const keys = b.decoderTags;
  const n = keys.length;
  if (entry === undefined) return seriesOf(b, tagsOf(keys, values), captures);
  const known = ordinal < entry.slots.length;
  if (known) {
    const tags = entry.slotTags;
    let same = true;
    for (let j = 0; j < n; j++) if (tags[ordinal * n + j] !== values?.[j]) same = false;
    if (same) return entry.slots[ordinal] as Series;
    const map = (entry.series ??= new Map());
    const replaced = seriesKey(tagsOf(keys, entry.slotTags.slice(ordinal * n, ordinal * n + n)));
    if (!map.has(replaced) && map.size < MAX_SERIES_PER_TOPIC) map.set(replaced, entry.slots[ordinal] as Series);
  }
  const tags = tagsOf(keys, values);
  const series = known ? seriesFor(b, entry, tags, captures) : seriesOf(b, tags, captures);
  if ('kind' in series || ordinal > entry.slots.length || ordinal >= MAX_SERIES_PER_TOPIC) return series;
  const slots = entry.slots.slice();
  const slotTags = entry.slotTags.slice();
  slots[ordinal] = series;
  for (let j = 0; j < n; j++) slotTags[ordinal * n + j] = values?.[j];
  entry.slots = slots;
  entry.slotTags = slotTags;
  return series;
}

/** A record's tags from the values of the decoder's tag keys (undefined: none). */
function tagsOf(keys: readonly string[], values: readonly (string | undefined)[] | undefined): Record<string, string> | undefined {
  let tags: Record<string, string> | undefined;
  if (values !== undefined)
    for (let j = 0; j < keys.length; j++) {
      const v = values[j];
      if (v !== undefined) setProp((tags ??= {}), keys[j] as string, v);
    }
  return tags;
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
