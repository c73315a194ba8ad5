/**
 * The series of a binding's readings: a reading's tags (decoder tags, then topic captures,
 * then the profile's static tags, then the binding's tags; later wins; the topic is what
 * the broker authenticates, so a payload cannot relabel its device), minus `drop_tags`,
 * empty values left out, and its measurement rendered from them.
 *
 * They depend only on the topic's captures and the record's own tags, so an MQTT topic's
 * cache entry keeps them: a device's messages share one frozen tags object per series (the
 * line protocol encoder then reuses the series' encoded text) instead of rendering them
 * per reading.
 */
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
 * the map of series is made when the topic's first reading needs it.
 */
export interface TopicEntry {
  readonly binding: Binding | undefined;
  readonly availability: Availability | undefined;
  readonly captures: Readonly<Record<string, string>>;
  /** Series of this topic by their record tags (`seriesKey`); made when first needed. */
  series: Map<string, Series> | undefined;
}

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
