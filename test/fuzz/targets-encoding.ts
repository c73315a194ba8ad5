/**
 * Fuzz targets for the line protocol encoder (every reading encodes to one line that the
 * line protocol decoder reads back: same time always, same measurement/tags/fields where
 * the text is representable) and for topic templates (compile never throws; `match`
 * agrees with a plain split-based reference matcher of MQTT semantics).
 */
import fc from 'fast-check';
import { decodeLineProtocol } from '../../src/devices/decode-line-protocol.js';
import { compileTopicTemplate, isTemplateError } from '../../src/util/topic-template.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import { isDecodeError, type FieldValue, type Reading } from '../../src/types.js';
import { nastyText, readingArb, show } from './arbitraries.js';
import { noThrow, Stats, fcParams, type FuzzTarget, type RunOptions } from './check.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const encodable = (v: FieldValue): boolean => (typeof v === 'number' ? Number.isFinite(v) : typeof v === 'bigint' ? v >= INT64_MIN && v <= INT64_MAX : true);
/** Text that line protocol carries exactly: no backslash (no escape exists for it in names), no newline, no leading `#`/whitespace. */
const plainName = (s: string): boolean => !/[\\\n\r]/.test(s) && !/^[#\t ]/.test(s) && s !== '';

/** An own property, also for the key `__proto__` (which `o[k] = v` would not create). */
function own<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** The reading the decoder should give back, when the input is representable; else undefined. */
function expected(r: Reading): Reading | undefined {
  if (!plainName(r.measurement)) return undefined;
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.tags)) {
    if (k === '' || v === '') continue;
    if (!plainName(k) || !plainName(v)) return undefined;
    own(tags, k, v);
  }
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(r.fields)) {
    if (!encodable(v)) continue;
    if (!plainName(k) || (typeof v === 'string' && /[\n\r]/.test(v))) return undefined;
    own(fields, k, v);
  }
  return { measurement: r.measurement, tags, fields, time: r.time };
}

function same(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function encoderTarget(): FuzzTarget {
  return {
    name: 'encodeLine (round trip)',
    fullRuns: 12_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(readingArb, (r) => {
          const d = () => `reading ${show(r, 400)}`;
          const line = stats.time(d, () => noThrow(d, () => encodeLine(r)));
          if (line === null) {
            stats.count('null (nothing writable)');
            // A measurement of leading tabs and backslashes only escapes to nothing.
            if (Object.values(r.fields).some(encodable) && !/^\t*\\*$/.test(r.measurement)) {
              // Every field key may still have escaped to nothing (backslashes only).
              if (Object.entries(r.fields).some(([k, v]) => encodable(v) && !/^\\*$/.test(k))) throw new Error(`encodeLine gave null for a writable ${d()}`);
            }
            return;
          }
          if (/[\n\r]/.test(line)) throw new Error(`encoded line has a line break: ${show(line)} for ${d()}`);
          const back = noThrow(d, () => decodeLineProtocol(line, { tags: {}, receivedAt: 0n }));
          if (isDecodeError(back)) throw new Error(`line ${show(line, 400)} does not parse back (${back.reason}: ${back.message}) for ${d()}`);
          if (back.length !== 1) throw new Error(`line ${show(line)} parses back as ${back.length} readings`);
          const got = back[0] as Reading;
          if (got.time !== r.time) throw new Error(`time ${got.time} != ${r.time} for ${d()}`);
          const want = expected(r);
          if (want === undefined) {
            stats.count('parsed back (not representable exactly)');
            return;
          }
          if (got.measurement !== want.measurement || !same(got.tags, want.tags) || !same(got.fields, want.fields)) {
            throw new Error(`round trip differs: ${show(got, 400)} != ${show(want, 400)} via ${show(line, 400)}`);
          }
          stats.count('round trip exact');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

/** MQTT matching the plain way: split both, walk the levels. */
function referenceMatch(template: string, topic: string): Record<string, string> | null {
  const t = template.split('/');
  const p = topic.split('/');
  if (t[0] !== undefined && (t[0] === '#' || t[0] === '+' || t[0].startsWith('{')) && topic.startsWith('$')) return null;
  const caps: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const lv = t[i] as string;
    if (lv === '#') return caps;
    if (i >= p.length) return null;
    const x = p[i] as string;
    if (lv.startsWith('{')) caps[lv.slice(1, -1)] = x;
    else if (lv !== '+' && lv !== x) return null;
  }
  return p.length === t.length ? caps : null;
}

const tplLevel = fc.oneof(
  fc.constantFrom(
    'sensors',
    'a',
    '',
    '+',
    '#',
    '{device}',
    '{location}',
    '{measurement}',
    '{x1}',
    '$SYS',
    '$share',
    '{}',
    '{1a}',
    '{a b}',
    'a+',
    'a#',
    '{a}{b}',
    '{__proto__}',
    'é',
  ),
  nastyText(5).map((s) => s.replace(/\//g, '')),
);
const templateArb = fc.oneof(
  { weight: 5, arbitrary: fc.array(tplLevel, { minLength: 1, maxLength: 6 }).map((l) => l.join('/')) },
  { weight: 1, arbitrary: nastyText(40) },
);
const topicLevel = fc.oneof(
  fc.constantFrom('sensors', 'a', '', 'kitchen', '$SYS', '+', '#', 'é'),
  nastyText(5).map((s) => s.replace(/\//g, '')),
);

/** Topics made to match the template (wildcards and captures filled), or random ones. */
function topicsFor(template: string): fc.Arbitrary<string> {
  const levels = template.split('/');
  const filled = fc
    .tuple(
      ...levels.map((lv) =>
        lv === '+' || lv.startsWith('{') ? topicLevel : lv === '#' ? fc.array(topicLevel, { maxLength: 3 }).map((a) => a.join('/')) : fc.constant(lv),
      ),
    )
    .map((parts) => parts.join('/'));
  return fc.oneof(
    filled,
    fc.array(topicLevel, { minLength: 1, maxLength: 7 }).map((a) => a.join('/')),
    nastyText(30),
  );
}

function topicTemplateTarget(): FuzzTarget {
  return {
    name: 'topic templates',
    fullRuns: 12_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      const arb = templateArb.chain((tpl) => fc.tuple(fc.constant(tpl), fc.array(topicsFor(tpl), { minLength: 1, maxLength: 4 })));
      fc.assert(
        fc.property(arb, ([tpl, topics]) => {
          const d = () => `template ${show(tpl)}, topics ${show(topics)}`;
          const c = stats.time(d, () => noThrow(d, () => compileTopicTemplate(tpl)));
          if (isTemplateError(c)) {
            if (c.error.trim() === '') throw new Error(`empty template error for ${d()}`);
            stats.count('rejected');
            return;
          }
          if (c.filter.includes('{') && c.filter.split('/').some((l) => l.startsWith('{'))) throw new Error(`filter ${c.filter} keeps a capture for ${d()}`);
          if (new Set(c.names).size !== c.names.length) throw new Error(`duplicate names ${show(c.names)}`);
          let matched = 0;
          for (const topic of topics) {
            const got = noThrow(d, () => c.match(topic));
            const want = referenceMatch(tpl, topic);
            if ((got === null) !== (want === null) || (got !== null && want !== null && !sameCaps(got, want))) {
              throw new Error(`match(${show(topic)}) = ${show(got)}, reference ${show(want)} for template ${show(tpl)}`);
            }
            if (got !== null) matched++;
          }
          stats.count(matched > 0 ? 'compiled, some topics matched' : 'compiled, no topic matched');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

function sameCaps(a: Record<string, string>, b: Record<string, string>): boolean {
  return same(a, b);
}

export function encodingTargets(): FuzzTarget[] {
  return [encoderTarget(), topicTemplateTarget()];
}
