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
 * A series as a topic entry keeps it: the record tags it was rendered from, and the next
 * series of the topic. A topic's series form a ring (one, or a few: a Tasmota message has
 * one per sensor object), so a topic costs no Map and no key string per series.
 */
export interface KeptSeries extends Series {
  /** The decoder's own tags object of the record it was made for (records are not reused). */
  readonly recordTags: Readonly<Record<string, string>> | undefined;
  /** The next series of the topic's ring; undefined for a series not kept (rendered for one reading). */
  next: KeptSeries | undefined;
}

/**
 * What a topic resolves to: its binding (none: `binding` undefined), availability or data,
 * its captures, and its series so far. Small on purpose (a site has thousands of topics).
 */
export interface TopicEntry {
  readonly binding: Binding | undefined;
  readonly availability: Availability | undefined;
  readonly captures: Readonly<Record<string, string>>;
  /**
   * The ring of this topic's series, at the one expected next: a message's records come in
   * the same order each time, so a record mostly finds its series at the first look.
   */
  series: KeptSeries | undefined;
}

/** Series kept per topic (a Tasmota message has one per sensor object): past this, the others are rendered per reading. */
const MAX_SERIES_PER_TOPIC = 64;

/** Whether two records' own tags are the same (the same keys and values; `undefined` is none). */
function sameTags(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  if (a === b) return true;
  let n = 0;
  if (b !== undefined) {
    for (const k in b) {
      if (a === undefined || a[k] !== b[k]) return false;
      n++;
    }
  }
  if (a !== undefined) for (const _ in a) if (--n < 0) return false;
  return n === 0;
}

/** Record tags objects a binding shares among its topics' series (distinct tag sets of a profile are few). */
const MAX_SHARED_TAGS = 1024;

/**
 * An object equal to these record tags that the binding's other series already keep (one
 * `{sensor: "ENERGY"}` for all the topics, not one per topic), else `tags`, then kept for
 * the next. Runs when a topic's series is made, never per record.
 */
function sharedTags(b: Binding, tags: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  if (tags === undefined) return undefined;
  let key = '';
  for (const k in tags) key += k + '\u0000' + tags[k] + '\u0000';
  const known = b.recordTags.get(key);
  if (known !== undefined) return sameTags(known, tags) ? known : tags;
  if (b.recordTags.size < MAX_SHARED_TAGS) b.recordTags.set(key, tags);
  return tags;
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
  const first = entry.series;
  let last: KeptSeries | undefined;
  let n = 0;
  if (first !== undefined) {
    let s: KeptSeries | undefined = first;
    do {
      if (sameTags(s.recordTags, recordTags)) {
        entry.series = s.next;
        return s;
      }
      last = s;
      s = s.next;
      n++;
    } while (s !== first && s !== undefined);
  }
  if (n >= MAX_SERIES_PER_TOPIC) return seriesOf(b, recordTags, captures);
  const made = seriesOf(b, sharedTags(b, recordTags), captures);
  if ('kind' in made) return made;
  // Into the ring before the one expected next (after the last one looked at), which stays expected next.
  if (first === undefined || last === undefined) made.next = made;
  else {
    made.next = first;
    last.next = made;
  }
  entry.series = made.next;
  return made;
}

/** A record's tags (decoder tags, captures, static tags, the binding's tags) and measurement, frozen; or `no_rule` when the measurement renders empty. */
function seriesOf(
  b: Binding,
  recordTags: Readonly<Record<string, string>> | undefined,
  captures: Readonly<Record<string, string>>,
): KeptSeries | ProfileDecodeError {
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
  return { tags: Object.freeze(tags), measurement, recordTags, next: undefined };
}
