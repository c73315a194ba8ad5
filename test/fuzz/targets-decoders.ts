/**
 * Fuzz targets for the core decoders: JSON (with random decoder options), plain numbers,
 * line protocol, and the rule set that routes topics to them (RuleSet.decode, which also
 * checks size, UTF-8 and topics).
 */
import fc from 'fast-check';
import type { JsonOptions, RuleConfig } from '../../src/config/types.js';
import { createJsonDecoder } from '../../src/devices/decode-json.js';
import { decodeLineProtocol } from '../../src/devices/decode-line-protocol.js';
import { decodeNumber } from '../../src/devices/decode-number.js';
import { RuleSet } from '../../src/devices/rules.js';
import type { RawMessage } from '../../src/types.js';
import {
  anyBytes,
  hugeNumber,
  jsonKey,
  jsonText,
  lineProtocolText,
  manyKeysJson,
  nastyText,
  nearValid,
  numberLiteral,
  PAYLOAD_LIMIT,
  show,
  textPayload,
} from './arbitraries.js';
import { checkDecodeResult, noThrow, Stats, fcParams, type FuzzTarget, type RunOptions } from './check.js';

const ARRIVAL = 1_700_000_000_000_000_000n;
const JSON_REASONS = new Set(['invalid_json', 'not_an_object', 'wrong_type', 'invalid_timestamp', 'no_fields']);
const NUMBER_REASONS = new Set(['invalid_number', 'no_fields']);
const LP_REASONS = new Set(['invalid_line_protocol', 'no_fields']);
const RULE_REASONS = new Set([...JSON_REASONS, ...NUMBER_REASONS, ...LP_REASONS, 'no_rule', 'empty_payload', 'payload_too_large', 'invalid_utf8']);

/** The places each reason promises in its message (see the decoders' doc comments). */
export function placed(reason: string, message: string): boolean {
  switch (reason) {
    case 'invalid_line_protocol':
      return /^line \d+, column \d+: \S/.test(message);
    case 'invalid_json':
      return /at position \d+/.test(message);
    case 'wrong_type':
    case 'invalid_timestamp':
      return /"[^"]*"/.test(message);
    default:
      return message.trim() !== '';
  }
}

const names = fc.constantFrom('a', 'b', 'ts', 'time', 'count', 'meta_ts', 'meta.ts', 'a_b', 'value', '__proto__');
const jsonOptions: fc.Arbitrary<JsonOptions> = fc.record({
  fields: fc.oneof(fc.constant([]), fc.array(names, { maxLength: 3 })),
  rename: fc.dictionary(names, names, { maxKeys: 2 }),
  separator: fc.constantFrom('_', '.', '', '__', '/'),
  integers: fc.array(names, { maxLength: 3 }),
  tag_keys: fc.array(names, { maxLength: 2 }),
  time_key: fc.option(names, { nil: undefined }),
  time_unit: fc.constantFrom('s', 'ms', 'us', 'ns', 'iso'),
  strings: fc.constantFrom('keep', 'drop'),
});

/** JSON objects whose values hit the time key in every unit and shape. */
const timedJson = fc
  .tuple(
    fc.constantFrom('ts', 'time', 'meta'),
    fc.oneof(
      numberLiteral,
      fc.constantFrom(
        '"2024-05-01T12:00:00.5+02:00"',
        '"2024-02-30"',
        '"  1700000000  "',
        '"1e3"',
        '{"ts":1}',
        '[]',
        'true',
        '"' + ' '.repeat(5000) + 'x"',
        '"' + '1'.repeat(5000) + 'x"',
        '"' + ' '.repeat(200_000) + 'x"',
        '"1' + ' '.repeat(200_000) + 'x"',
        '"' + '\\t'.repeat(100_000) + '1"',
      ),
    ),
    jsonText,
  )
  .map(([k, v, rest]) => (rest === '{}' ? `{"${k}":${v}}` : `{"${k}":${v},${rest.slice(1)}`));

const jsonPayload = textPayload(fc.oneof(jsonText, timedJson, manyKeysJson));

function jsonTarget(): FuzzTarget {
  return {
    name: 'decode-json',
    fullRuns: 15_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(jsonOptions, jsonPayload, (opts, text) => {
          const d = () => `options ${show(opts)}, payload ${show(text)}`;
          const decode = createJsonDecoder(opts);
          const r = stats.time(d, () => noThrow(d, () => decode(text, { measurement: 'm', tags: { device: 'd' }, receivedAt: ARRIVAL })), text.length);
          checkDecodeResult(r, JSON_REASONS, stats, d, placed);
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

/** Flat objects mostly (what the fast path takes), with spaces, escapes, duplicates, nesting and mutations mixed in. */
const space = fc.constantFrom('', '', '', ' ', '\n\t ', '\r');
const flatValue = fc.oneof(
  numberLiteral,
  fc.constantFrom('true', 'false', 'null', '-0', '0.0', '1E2', '-1e-7', '01', '1.', '.5', '+1', '2e', 'tru', 'nul'),
  nastyText(12).map((s) => JSON.stringify(s)),
  fc.constantFrom('{}', '[1]', '{"a":1}'),
);
const flatKey = fc.oneof(jsonKey, fc.constantFrom('0', '1', '12a', 'ts', 'seq', 'v', 'a\\b', 'a"b', 'é'));
const flatJson = fc
  .tuple(fc.array(fc.tuple(flatKey, flatValue, space, space), { maxLength: 8 }), space, space)
  .map(([kv, a, b]) => `${a}{${kv.map(([k, v, s1, s2]) => `${s1}${JSON.stringify(k)}${s2}:${s1}${v}${s2}`).join(',')}}${b}`);
const flatPayload = fc.oneof({ weight: 4, arbitrary: flatJson }, { weight: 1, arbitrary: nearValid(flatJson) });

/** A reading or error as comparable text: field order, bigint vs number and time all count. */
function canonical(r: unknown): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && Object.is(v, -0) ? '-0' : v));
}

function jsonFastPathTarget(): FuzzTarget {
  return {
    name: 'decode-json fast path = JSON.parse path',
    fullRuns: 15_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      // A run of payloads through one decoder: the fast path keeps per-rule state (its plan
      // for each key position, its back-off) from one message to the next.
      fc.assert(
        fc.property(jsonOptions, fc.array(flatPayload, { minLength: 1, maxLength: 4 }), (opts, texts) => {
          const fastDecoder = createJsonDecoder(opts);
          const generalDecoder = createJsonDecoder(opts, false);
          texts.forEach((text, i) => {
            const d = () => `options ${show(opts)}, payload ${show(text)} (message ${i + 1} of ${show(texts)})`;
            const ctx = { measurement: 'm', tags: { device: 'd' }, receivedAt: ARRIVAL };
            // The fast path reads the UTF-8 bytes; the general path the text they decode to.
            const bytes = Buffer.from(text, 'utf8');
            const fast = stats.time(d, () => noThrow(d, () => fastDecoder.bytes(bytes, 0, bytes.length, ctx)), text.length);
            const general = generalDecoder(bytes.toString('utf8'), ctx);
            if (fast !== undefined && canonical(fast) !== canonical(general))
              throw new Error(`the paths differ: fast ${canonical(fast)}, JSON.parse ${canonical(general)}; ${d()}`);
            checkDecodeResult(fast ?? general, JSON_REASONS, stats, d, placed);
          });
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const numberPayload = textPayload(
  fc.oneof(
    numberLiteral,
    hugeNumber,
    fc.constantFrom('true', 'false', ' 21.5\n', '.5', '-1e3', '0x10', 'NaN', 'Infinity', '1_000', '١٢'),
    fc.integer({ min: 1, max: PAYLOAD_LIMIT }).map((n) => '1'.repeat(n) + 'x'),
  ),
);

function numberTarget(): FuzzTarget {
  return {
    name: 'decode-number',
    fullRuns: 8_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(fc.constantFrom('value', 'temperature', ''), numberPayload, (field, text) => {
          const d = () => `field ${show(field)}, payload ${show(text)}`;
          const r = stats.time(d, () => noThrow(d, () => decodeNumber(text, field, { measurement: 'm', tags: {}, receivedAt: ARRIVAL })), text.length);
          checkDecodeResult(r, NUMBER_REASONS, stats, d, placed);
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const lpPayload = textPayload(lineProtocolText);

function lineProtocolTarget(): FuzzTarget {
  return {
    name: 'decode-line-protocol',
    fullRuns: 15_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(fc.option(fc.constantFrom('m', 'rule_m'), { nil: undefined }), lpPayload, (measurement, text) => {
          const d = () => `measurement ${String(measurement)}, payload ${show(text)}`;
          const r = stats.time(d, () => noThrow(d, () => decodeLineProtocol(text, { measurement, tags: { device: 'd' }, receivedAt: ARRIVAL })), text.length);
          checkDecodeResult(r, LP_REASONS, stats, d, placed);
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const baseJson: JsonOptions = { fields: [], rename: {}, separator: '_', integers: [], tag_keys: [], time_unit: 'ms', strings: 'keep' };
const rule = (topic: string, format: RuleConfig['format'], more: Partial<RuleConfig> = {}): RuleConfig => ({
  topic,
  format,
  tags: {},
  drop_tags: [],
  number: {},
  pipeline: [],
  json: baseJson,
  ...more,
});

/** The rules of examples/edgeflux.yaml, plus templated measurements and tags. */
export const EXAMPLE_RULES: readonly RuleConfig[] = [
  rule('sensors/{location}/{device}/{measurement}', 'json', { json: { ...baseJson, time_key: 'ts', integers: ['count'] } }),
  rule('plain/{device}/{field}', 'number', { measurement: 'plain' }),
  rule('lp/#', 'line_protocol'),
  rule('t/{site}/{kind}/+', 'json', {
    measurement: '{kind}_{site}',
    tags: { at: '{site}', fixed: 'x' },
    drop_tags: ['site'],
    json: { ...baseJson, separator: '.', tag_keys: ['id'], time_key: 'meta.ts', time_unit: 'iso' },
  }),
  rule('{measurement}/#', 'line_protocol', { tags: { src: '{measurement}' } }),
];

const level = fc.oneof(
  fc.constantFrom('kitchen', 'th1', 'climate', '', '+', '#', '$SYS', 'lp', 'plain', 'sensors', 't', '{x}'),
  nastyText(6).map((s) => s.replace(/\//g, '')),
);
const topicArb = fc.oneof(
  fc.tuple(fc.constantFrom('sensors', 'plain', 'lp', 't', '$SYS', '', 'x'), fc.array(level, { maxLength: 5 })).map(([a, rest]) => [a, ...rest].join('/')),
  nastyText(40),
);
const payloadArb = fc.oneof(
  { weight: 6, arbitrary: textPayload(fc.oneof(jsonText, lineProtocolText, numberLiteral)).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 2, arbitrary: anyBytes },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from([0xef, 0xbb, 0xbf, 0x31]),
      Buffer.from([0xc3]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.alloc(PAYLOAD_LIMIT + 1, 0x31),
    ),
  },
);

function rulesTarget(): FuzzTarget {
  return {
    name: 'rules (RuleSet.decode)',
    fullRuns: 10_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      const rs = new RuleSet(EXAMPLE_RULES, { max_payload: PAYLOAD_LIMIT });
      fc.assert(
        fc.property(topicArb, payloadArb, (topic, payload) => {
          const d = () => `topic ${show(topic)}, payload ${show(payload)}`;
          const msg: RawMessage = { sourceId: 'fuzz', topic, payload, receivedAt: ARRIVAL, ack: () => {} };
          const r = stats.time(d, () => noThrow(d, () => rs.decode(msg)), payload.length);
          checkDecodeResult(r, RULE_REASONS, stats, d, placed);
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

export function decoderTargets(): FuzzTarget[] {
  return [jsonTarget(), jsonFastPathTarget(), numberTarget(), lineProtocolTarget(), rulesTarget()];
}
