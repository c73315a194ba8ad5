/**
 * Rules: which topics are decoded how. `RuleSet` compiles `rules` once; `decode()` is the
 * hot path: the first rule whose topic template matches decodes the message.
 *
 * Per message: the topic's rule, tags and measurement (matched once per topic, without
 * regexes, then taken from a bounded cache), the size check, then for a JSON rule the flat
 * object fast path straight from the bytes (flat-json.ts: no payload text at all); else
 * the UTF-8 check and one Buffer → string conversion (a leading BOM dropped), then the
 * format's decoder. A journal record hands over its payload as a range of the journal's
 * bytes (`payloadRange`), so no Buffer view is made for it either.
 *
 * Measurement: `rule.measurement` (a `{name}` template), else the `{measurement}` capture,
 * else, for line protocol only, each line's own. Tags: every capture except `measurement`,
 * `field` and `drop_tags`, then the rule's static `tags` (templated) over them; empty values
 * are left out (InfluxDB has no empty tag values). A topic level that yields an empty
 * measurement is `no_rule` (no rule can name the point).
 */
import type { LimitsConfig, RuleConfig } from '../config/types.js';
import { decodeError, type DecodeError, type MessageData, type Reading } from '../types.js';
import { createJsonDecoder, type JsonDecoder } from './decode-json.js';
import { setProp } from '../util/own.js';
import { decodeLineProtocol } from './decode-line-protocol.js';
import { decodeNumber } from './decode-number.js';
import { utf8Text } from './utf8.js';
import { compileTopicTemplate, compileValueTemplate, coveringFilters, filterCovers, isTemplateError, type TopicTemplate } from '../util/topic-template.js';

import type { DecodeContext } from './decode-context.js';

export type { DecodeContext };

/**
 * A rule's context for one message. The arrival time is read only when a decoder needs it
 * (a payload with its own time never does): from a journal record that is a BigInt made
 * from the frame's bytes.
 */
class MessageContext implements DecodeContext {
  constructor(
    readonly measurement: string,
    readonly tags: Readonly<Record<string, string>>,
    private readonly msg: MessageData,
  ) {}

  get receivedAt(): bigint {
    return this.msg.receivedAt;
  }
}

/** A configuration problem, with the path of the offending key (e.g. ['rules', 0, 'topic']). */
export interface RuleProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export class RuleSetError extends Error {
  constructor(readonly problems: readonly RuleProblem[]) {
    super(`invalid rules: ${problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ')}`);
    this.name = 'RuleSetError';
  }
}

/** A value template bound to capture slots: parts[0] + vals[idx[0]] + parts[1] + ... */
interface Bound {
  readonly parts: readonly string[];
  readonly idx: readonly number[];
}

interface Compiled {
  readonly index: number;
  readonly tpl: TopicTemplate;
  readonly vals: string[];
  readonly format: RuleConfig['format'];
  readonly tagKeys: readonly string[];
  readonly tagIdx: readonly number[];
  readonly staticKeys: readonly string[];
  readonly staticVals: readonly Bound[];
  readonly measurement: Bound | undefined;
  readonly field: Bound;
  readonly json: JsonDecoder | undefined;
}

/**
 * What a topic resolves to: its rule, and the tags, measurement and field name the rule
 * renders from its captures. Cached per topic, so every message on a topic gets the same
 * (frozen) tags object, which the line protocol encoder recognizes to reuse the series'
 * encoded text (line-protocol.ts).
 */
interface TopicEntry {
  /** Index of the rule, or -1 when none matches. */
  readonly rule: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly measurement: string | undefined;
  /** The field name of a `number` rule. */
  readonly field: string;
}

const NO_RULE: TopicEntry = Object.freeze({ rule: -1, tags: Object.freeze({}), measurement: undefined, field: '' });

/** Topics remembered (a device's topics repeat; 10,000 devices are a normal site, and a cache smaller than the devices sending in turn misses every time); past this the oldest are forgotten. */
const MAX_CACHED_TOPICS = 16_384;

const FORMATS = new Set(['json', 'number', 'line_protocol']);
const UNITS = new Set(['s', 'ms', 'us', 'ns', 'iso']);

/** Every problem in `rules` (and `limits`), for `edgeflux check` and the config loader. */
export function checkRules(rules: readonly RuleConfig[], limits?: LimitsConfig): RuleProblem[] {
  const problems: RuleProblem[] = [];
  compileAll(rules, problems);
  if (limits !== undefined && !(Number.isInteger(limits.max_payload) && limits.max_payload > 0)) {
    problems.push({ path: ['limits', 'max_payload'], message: 'must be a positive whole number of bytes' });
  }
  return problems;
}

export class RuleSet {
  private readonly rules: readonly Compiled[];
  private readonly subscriptions: readonly string[];
  private readonly maxPayload: number;
  /** Topic → what it resolves to; insertion order, the oldest evicted past MAX_CACHED_TOPICS. */
  private readonly topics = new Map<string, TopicEntry>();

  /** Compiles the rules; throws `RuleSetError` listing every problem (see `checkRules`). */
  constructor(rules: readonly RuleConfig[], limits: LimitsConfig) {
    const problems = checkRules(rules, limits);
    if (problems.length > 0) throw new RuleSetError(problems);
    this.rules = compileAll(rules, []);
    this.maxPayload = limits.max_payload;
    this.subscriptions = coveringFilters(this.rules.map((r) => r.tpl.filter));
  }

  /** The MQTT subscription filters that cover every rule, without overlaps. */
  filters(): string[] {
    return [...this.subscriptions];
  }

  /** Index of the rule that decodes `topic`, or -1. */
  ruleFor(topic: string): number {
    return this.resolve(topic).rule;
  }

  decode(msg: MessageData): Reading[] | DecodeError {
    const t = this.resolve(msg.topic);
    if (t.rule === -1) return decodeError('no_rule', 'no rule matches the topic');
    const r = this.rules[t.rule] as Compiled;
    const range = msg.payloadRange?.();
    const buf = range === undefined ? msg.payload : range.buf;
    const start = range === undefined ? 0 : range.start;
    const end = range === undefined ? buf.length : range.end;
    const size = end - start;
    if (size === 0) return decodeError('empty_payload', 'empty payload');
    if (size > this.maxPayload) return decodeError('payload_too_large', `payload of ${size} bytes exceeds limits.max_payload (${this.maxPayload})`);
    const ctx = new MessageContext(t.measurement as string, t.tags, msg);
    if (r.json !== undefined && t.measurement !== '') {
      // The flat-object fast path reads the bytes; it answers only for valid UTF-8, so the
      // checks below keep their order for everything else.
      const fast = r.json.bytes(buf, start, end, ctx);
      if (fast !== undefined) return fast;
    }
    const text = utf8Text(buf, start, end);
    if (text === undefined) return decodeError('invalid_utf8', 'payload is not valid UTF-8');
    if (t.measurement === '') return decodeError('no_rule', `rules[${t.rule}] ("${r.tpl.template}") matched but its measurement is empty`);
    switch (r.format) {
      case 'json':
        return (r.json as JsonDecoder)(text, ctx);
      case 'number':
        return decodeNumber(text, t.field, ctx);
      default:
        return decodeLineProtocol(text, { measurement: t.measurement, tags: t.tags, receivedAt: msg.receivedAt });
    }
  }

  /** What `topic` resolves to, from the cache or matched now (and cached). */
  private resolve(topic: string): TopicEntry {
    let t = this.topics.get(topic);
    if (t === undefined) {
      t = this.match(topic);
      if (this.topics.size >= MAX_CACHED_TOPICS) this.topics.delete(this.topics.keys().next().value as string);
      this.topics.set(topic, t);
    }
    return t;
  }

  private match(topic: string): TopicEntry {
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i] as Compiled;
      if (!r.tpl.matchInto(topic, r.vals)) continue;
      const vals = r.vals;
      const tags: Record<string, string> = {};
      for (let k = 0; k < r.tagKeys.length; k++) {
        const v = vals[r.tagIdx[k] as number] as string;
        if (v !== '') setProp(tags, r.tagKeys[k] as string, v);
      }
      for (let k = 0; k < r.staticKeys.length; k++) {
        const v = render(r.staticVals[k] as Bound, vals);
        if (v !== '') setProp(tags, r.staticKeys[k] as string, v);
        else delete tags[r.staticKeys[k] as string];
      }
      return {
        rule: i,
        tags: Object.freeze(tags),
        measurement: r.measurement === undefined ? undefined : render(r.measurement, vals),
        field: r.format === 'number' ? render(r.field, vals) : '',
      };
    }
    return NO_RULE;
  }
}

function render(b: Bound, vals: readonly string[]): string {
  let s = b.parts[0] as string;
  for (let i = 0; i < b.idx.length; i++) s += (vals[b.idx[i] as number] as string) + (b.parts[i + 1] as string);
  return s;
}

/** Compiles what compiles; pushes a problem for everything else. */
function compileAll(rules: readonly RuleConfig[], problems: RuleProblem[]): Compiled[] {
  const out: Compiled[] = [];
  rules.forEach((rule, ri) => {
    const at = (...p: (string | number)[]): (string | number)[] => ['rules', ri, ...p];
    const tpl = compileTopicTemplate(rule.topic);
    if (isTemplateError(tpl)) {
      problems.push({ path: at('topic'), message: tpl.error });
      return;
    }
    const names = tpl.names;
    const bind = (source: string, path: (string | number)[]): Bound | undefined => {
      const t = compileValueTemplate(source);
      if (isTemplateError(t)) {
        problems.push({ path, message: t.error });
        return undefined;
      }
      const missing = t.names.filter((n) => !names.includes(n));
      if (missing.length > 0) {
        problems.push({ path, message: `{${missing.join('}, {')}} is not a level of the topic template "${rule.topic}"` });
        return undefined;
      }
      return { parts: t.parts, idx: t.names.map((n) => names.indexOf(n)) };
    };
    const capture = (n: string): Bound => ({ parts: ['', ''], idx: [names.indexOf(n)] });

    if (!FORMATS.has(rule.format)) problems.push({ path: at('format'), message: `unknown format "${rule.format}" (json, number or line_protocol)` });
    let measurement: Bound | undefined;
    if (rule.measurement !== undefined) measurement = bind(rule.measurement, at('measurement'));
    else if (names.includes('measurement')) measurement = capture('measurement');
    else if (rule.format !== 'line_protocol') {
      problems.push({ path: at('measurement'), message: 'no measurement: set `measurement` or use a {measurement} level in the topic' });
    }
    const field =
      rule.number.field !== undefined
        ? bind(rule.number.field, at('number', 'field'))
        : names.includes('field')
          ? capture('field')
          : { parts: ['value'], idx: [] };
    for (const d of rule.drop_tags) {
      if (!names.includes(d)) problems.push({ path: at('drop_tags'), message: `"${d}" is not a capture of the topic template "${rule.topic}"` });
    }
    const staticKeys: string[] = [];
    const staticVals: Bound[] = [];
    for (const [k, v] of Object.entries(rule.tags)) {
      if (k === '') {
        problems.push({ path: at('tags'), message: 'empty tag key' });
        continue;
      }
      const b = bind(v, at('tags', k));
      if (b !== undefined) {
        staticKeys.push(k);
        staticVals.push(b);
      }
    }
    if (rule.format === 'json' && !UNITS.has(rule.json.time_unit)) {
      problems.push({ path: at('json', 'time_unit'), message: `unknown time unit "${rule.json.time_unit}" (s, ms, us, ns or iso)` });
    }
    if (rule.format === 'json' && rule.json.time_key === '') problems.push({ path: at('json', 'time_key'), message: 'empty time key' });
    const earlier = out.find((o) => filterCovers(o.tpl.filter, tpl.filter));
    if (earlier !== undefined) {
      problems.push({
        path: at('topic'),
        message: `never used: rules[${earlier.index}] ("${earlier.tpl.template}") comes first and matches every topic this rule matches`,
      });
    }
    const tagNames = names.filter((n) => n !== 'measurement' && n !== 'field' && !rule.drop_tags.includes(n));
    out.push({
      index: ri,
      tpl,
      vals: new Array<string>(names.length).fill(''),
      format: rule.format,
      tagKeys: tagNames,
      tagIdx: tagNames.map((n) => names.indexOf(n)),
      staticKeys,
      staticVals,
      measurement,
      field: field ?? { parts: ['value'], idx: [] },
      json: rule.format === 'json' ? createJsonDecoder(rule.json) : undefined,
    });
  });
  return out;
}
