import { describe, expect, it } from 'vitest';
import type { JsonOptions, LimitsConfig, RuleConfig } from '../../src/config/types.js';
import { checkRules, RuleSet, RuleSetError } from '../../src/devices/rules.js';
import { encodeFrame, FrameRecord, maxFrameBytes } from '../../src/journal/record-codec.js';
import { isDecodeError, type DecodeError, type RawMessage, type Reading } from '../../src/types.js';

const json: JsonOptions = { fields: [], rename: {}, separator: '_', integers: [], tag_keys: [], time_unit: 'ms', strings: 'keep' };
const limits: LimitsConfig = { max_payload: 1024 };

function rule(topic: string, format: RuleConfig['format'], more: Partial<Omit<RuleConfig, 'json'>> & { json?: Partial<JsonOptions> } = {}): RuleConfig {
  return { topic, format, tags: {}, drop_tags: [], number: {}, pipeline: [], ...more, json: { ...json, ...more.json } };
}

let acks = 0;
function msg(topic: string, payload: string | Buffer, receivedAt = 5n): RawMessage {
  return {
    sourceId: 'test',
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    receivedAt,
    ack: () => {
      acks++;
    },
  };
}

function ok(rs: RuleSet, topic: string, payload: string | Buffer): Reading[] {
  const r = rs.decode(msg(topic, payload));
  if (isDecodeError(r)) throw new Error(`${r.reason}: ${r.message}`);
  return r;
}

function bad(rs: RuleSet, topic: string, payload: string | Buffer): DecodeError {
  const r = rs.decode(msg(topic, payload));
  if (!isDecodeError(r)) throw new Error('expected a decode error');
  return r;
}

const example = new RuleSet(
  [
    rule('sensors/{location}/{device}/{measurement}', 'json', { json: { time_key: 'ts', integers: ['count'] } }),
    rule('plain/{device}/{field}', 'number', { measurement: 'plain' }),
    rule('lp/#', 'line_protocol'),
  ],
  limits,
);

describe('RuleSet.decode', () => {
  it('decodes the README example (location, device and measurement from the topic, fields from the JSON)', () => {
    expect(ok(example, 'sensors/kitchen/th1/climate', '{"temperature":21.5,"humidity":40}')).toEqual([
      { measurement: 'climate', tags: { location: 'kitchen', device: 'th1' }, fields: { temperature: 21.5, humidity: 40 }, time: 5n },
    ]);
  });

  it('uses the payload time key and integer fields of the rule', () => {
    const [r] = ok(example, 'sensors/k/d/m', '{"count":3,"ts":1700000000000}');
    expect(r?.fields).toEqual({ count: 3n });
    expect(r?.time).toBe(1_700_000_000_000_000_000n);
  });

  it('plain numbers take the field name from {field}', () => {
    expect(ok(example, 'plain/d1/temperature', ' 21.5\n')).toEqual([{ measurement: 'plain', tags: { device: 'd1' }, fields: { temperature: 21.5 }, time: 5n }]);
  });

  it('line protocol passes through with its own measurement', () => {
    expect(ok(example, 'lp/x', 'cpu,host=a usage=1.5 10\nmem free=3i 11')).toEqual([
      { measurement: 'cpu', tags: { host: 'a' }, fields: { usage: 1.5 }, time: 10n },
      { measurement: 'mem', tags: {}, fields: { free: 3n }, time: 11n },
    ]);
    expect(ok(example, 'lp', 'cpu v=1 1')).toHaveLength(1);
  });

  it('the first matching rule wins', () => {
    const rs = new RuleSet([rule('a/{measurement}', 'number'), rule('+/{measurement}', 'json')], limits);
    expect(ok(rs, 'a/x', '1')[0]?.fields).toEqual({ value: 1 });
    expect(ok(rs, 'b/x', '{"v":1}')[0]?.fields).toEqual({ v: 1 });
    expect(rs.ruleFor('a/x')).toBe(0);
    expect(rs.ruleFor('b/x')).toBe(1);
    expect(rs.ruleFor('c')).toBe(-1);
  });

  it('a topic matching no rule is no_rule, also for $SYS topics under a # rule', () => {
    expect(bad(example, 'other/topic', '1').reason).toBe('no_rule');
    expect(bad(example, 'sensors/kitchen/th1', '{}').reason).toBe('no_rule');
    const all = new RuleSet([rule('#', 'line_protocol')], limits);
    expect(bad(all, '$SYS/broker/load', 'm v=1').reason).toBe('no_rule');
    expect(ok(all, 'anything/at/all', 'm v=1')).toHaveLength(1);
  });

  it('checks the payload before decoding: empty, too large, invalid UTF-8', () => {
    expect(bad(example, 'plain/d/f', '').reason).toBe('empty_payload');
    expect(ok(example, 'plain/d/f', ' '.repeat(1020) + '1')).toHaveLength(1);
    const big = bad(example, 'plain/d/f', ' '.repeat(1024) + '1');
    expect(big.reason).toBe('payload_too_large');
    expect(big.message).toMatch(/1025 bytes/);
    expect(bad(example, 'plain/d/f', Buffer.from([0x31, 0xff, 0x32])).reason).toBe('invalid_utf8');
    expect(bad(example, 'plain/d/f', Buffer.from([0xc3])).reason).toBe('invalid_utf8');
    expect(bad(example, 'plain/d/f', Buffer.from([0xed, 0xa0, 0x80])).reason).toBe('invalid_utf8'); // a lone surrogate
    // Inside a flat JSON object, which the byte scanner would otherwise read.
    expect(bad(example, 'sensors/k/d/m', Buffer.concat([Buffer.from('{"v":1,"s":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])).reason).toBe(
      'invalid_utf8',
    );
  });

  it('counts max_payload in bytes, not characters', () => {
    const rs = new RuleSet([rule('t/{measurement}', 'json')], { max_payload: 12 });
    expect(ok(rs, 't/m', '{"é":1.5}')).toHaveLength(1); // 10 bytes
    expect(bad(rs, 't/m', '{"éééé":1}').reason).toBe('payload_too_large'); // 9 chars, 13 bytes
  });

  it('decodes a journal record (size and text read from the frame) as it decodes the message', () => {
    const payloads: (string | Buffer)[] = [
      '{"v":1.5,"ts":1700000000000}',
      '{"v":2}',
      '\ufeff{"v":1}',
      '',
      ' '.repeat(1024) + '1',
      Buffer.from([0x7b, 0xff, 0x7d]),
      '{"s":"\ufffd"}',
      '{"é":1}',
    ];
    for (const p of payloads) {
      const m = msg('sensors/k/d/m', p, 123_456_789n);
      const buf = Buffer.alloc(maxFrameBytes(m));
      const rec = new FrameRecord(buf, 0, encodeFrame(buf, 1, m, 0));
      expect(example.decode(rec), String(p)).toEqual(example.decode(m));
    }
  });

  it('drops a leading byte order mark', () => {
    expect(ok(example, 'sensors/k/d/m', '\ufeff{"v":1}')[0]?.fields).toEqual({ v: 1 });
    expect(ok(example, 'plain/d/f', '\ufeff1')[0]?.fields).toEqual({ f: 1 });
  });

  it('passes decoder errors through', () => {
    expect(bad(example, 'sensors/k/d/m', '{bad').reason).toBe('invalid_json');
    expect(bad(example, 'sensors/k/d/m', '[]').reason).toBe('not_an_object');
    expect(bad(example, 'sensors/k/d/m', '{"count":1.5}').reason).toBe('wrong_type');
    expect(bad(example, 'sensors/k/d/m', '{"ts":"x","v":1}').reason).toBe('invalid_timestamp');
    expect(bad(example, 'sensors/k/d/m', '{"v":null}').reason).toBe('no_fields');
    expect(bad(example, 'plain/d/f', 'abc').reason).toBe('invalid_number');
    expect(bad(example, 'lp/x', 'm v=').reason).toBe('invalid_line_protocol');
  });

  it('does not call ack (the caller owns the message)', () => {
    const before = acks;
    example.decode(msg('sensors/k/d/m', '{"v":1}'));
    example.decode(msg('nowhere', 'x'));
    expect(acks).toBe(before);
  });

  it('gives each message its own tags object', () => {
    const a = ok(example, 'sensors/k1/d/m', '{"v":1}')[0];
    const b = ok(example, 'sensors/k2/d/m', '{"v":1}')[0];
    expect(a?.tags).toEqual({ location: 'k1', device: 'd' });
    expect(b?.tags).toEqual({ location: 'k2', device: 'd' });
  });
});

describe('RuleSet: measurement, tags and fields from the rule', () => {
  it('a measurement template beats the {measurement} capture, which is never a tag', () => {
    const rs = new RuleSet([rule('s/{site}/{measurement}', 'json', { measurement: '{site}_{measurement}' })], limits);
    expect(ok(rs, 's/a/temp', '{"v":1}')[0]).toMatchObject({ measurement: 'a_temp', tags: { site: 'a' } });
  });

  it('an empty measurement level is no_rule', () => {
    expect(bad(example, 'sensors/k/d/', '{"v":1}')).toMatchObject({ reason: 'no_rule', message: expect.stringContaining('measurement is empty') });
  });

  it('empty captured levels are left out of the tags', () => {
    expect(ok(example, 'sensors//d/m', '{"v":1}')[0]?.tags).toEqual({ device: 'd' });
  });

  it('drop_tags, static tags (templated) and their precedence', () => {
    const rs = new RuleSet(
      [
        rule('s/{site}/{device}/{noise}', 'json', {
          measurement: 'm',
          drop_tags: ['noise'],
          tags: { env: 'prod', where: '{site}-{device}', site: 'fixed', gone: '{noise}' },
        }),
      ],
      limits,
    );
    expect(ok(rs, 's/a/d1/zz', '{"v":1}')[0]?.tags).toEqual({ site: 'fixed', device: 'd1', env: 'prod', where: 'a-d1', gone: 'zz' });
    // A static tag rendering empty removes the key, also a captured one.
    const rs2 = new RuleSet([rule('s/{site}/{x}', 'json', { measurement: 'm', tags: { site: '{x}' } })], limits);
    expect(ok(rs2, 's/a/', '{"v":1}')[0]?.tags).toEqual({});
  });

  it('static and topic tags win over payload tags (JSON tag_keys and line protocol)', () => {
    const rs = new RuleSet(
      [rule('j/{device}', 'json', { measurement: 'm', json: { tag_keys: ['device', 'room'] } }), rule('l/{device}', 'line_protocol', { tags: { src: 'lp' } })],
      limits,
    );
    expect(ok(rs, 'j/real', '{"device":"spoof","room":"k","v":1}')[0]?.tags).toEqual({ device: 'real', room: 'k' });
    expect(ok(rs, 'l/real', 'm,device=spoof,src=x,room=k v=1')[0]?.tags).toEqual({ device: 'real', src: 'lp', room: 'k' });
  });

  it('the {field} capture is not a tag; number.field may be a literal or a template', () => {
    const rs = new RuleSet(
      [
        rule('a/{device}/{field}', 'number', { measurement: 'm' }),
        rule('b/{device}/{kind}', 'number', { measurement: 'm', number: { field: '{kind}_raw' } }),
        rule('c/{device}', 'number', { measurement: 'm', number: { field: 'level' } }),
        rule('d/{device}', 'number', { measurement: 'm' }),
      ],
      limits,
    );
    expect(ok(rs, 'a/d/t', '1')[0]).toMatchObject({ tags: { device: 'd' }, fields: { t: 1 } });
    expect(ok(rs, 'b/d/t', '1')[0]).toMatchObject({ tags: { device: 'd', kind: 't' }, fields: { t_raw: 1 } });
    expect(ok(rs, 'c/d', '1')[0]?.fields).toEqual({ level: 1 });
    expect(ok(rs, 'd/d', 'true')[0]?.fields).toEqual({ value: true });
    expect(bad(rs, 'a/d/', '1').reason).toBe('no_fields');
  });

  it('a line protocol rule with a measurement forces it on every line', () => {
    const rs = new RuleSet([rule('lp/{measurement}', 'line_protocol')], limits);
    expect(ok(rs, 'lp/forced', 'a v=1 1\nb v=2 2').map((r) => r.measurement)).toEqual(['forced', 'forced']);
  });
});

describe('RuleSet.filters', () => {
  it('lists the subscription filters, deduped and without overlaps', () => {
    expect(example.filters()).toEqual(['sensors/+/+/+', 'plain/+/+', 'lp/#']);
    const rs = new RuleSet(
      [
        rule('a/{x}/b', 'json', { measurement: 'm' }),
        rule('a/{y}/c', 'json', { measurement: 'm' }),
        rule('a/#', 'line_protocol'),
        rule('z/{measurement}', 'json'),
        rule('z/{measurement}/{f}', 'json'),
      ],
      limits,
    );
    expect(rs.filters()).toEqual(['a/#', 'z/+', 'z/+/+']);
  });

  it('dedupes equal filters of different templates and returns a copy', () => {
    const rs = new RuleSet([rule('a/{x}/{measurement}', 'json'), rule('+/{y}/{measurement}', 'json')], limits);
    const f = rs.filters();
    expect(f).toEqual(['+/+/+']);
    f.push('x');
    expect(rs.filters()).toEqual(['+/+/+']);
  });

  it('keeps a $SYS filter beside #', () => {
    const rs = new RuleSet([rule('$SYS/#', 'line_protocol'), rule('#', 'line_protocol')], limits);
    expect(rs.filters()).toEqual(['$SYS/#', '#']);
  });
});

describe('checkRules and the RuleSet constructor', () => {
  it('accepts the example rules', () => {
    expect(checkRules([rule('sensors/{location}/{device}/{measurement}', 'json'), rule('lp/#', 'line_protocol')], limits)).toEqual([]);
  });

  it('lists every problem with its path', () => {
    const problems = checkRules(
      [
        rule('a/{x}y', 'json'),
        rule('b/{x}', 'json'),
        rule('c/{x}', 'number', { measurement: '{nope}', number: { field: '{x' }, drop_tags: ['zz'], tags: { '': 'v', t: '{missing}' } }),
        rule('d/{measurement}', 'json', { json: { time_unit: 'h' as never, time_key: '' } }),
        rule('e/+', 'xml' as never, { measurement: 'm' }),
        rule('d/{other}', 'json'),
      ],
      { max_payload: 0 },
    );
    const got = problems.map((p) => `${p.path.join('.')}: ${p.message}`);
    expect(got).toEqual([
      expect.stringMatching(/^rules\.0\.topic: .*whole level/),
      expect.stringMatching(/^rules\.1\.measurement: no measurement/),
      expect.stringMatching(/^rules\.2\.measurement: \{nope\} is not a level/),
      expect.stringMatching(/^rules\.2\.number\.field: unclosed/),
      expect.stringMatching(/^rules\.2\.drop_tags: "zz" is not a capture/),
      expect.stringMatching(/^rules\.2\.tags: empty tag key/),
      expect.stringMatching(/^rules\.2\.tags\.t: \{missing\} is not a level/),
      expect.stringMatching(/^rules\.3\.json\.time_unit: unknown time unit "h"/),
      expect.stringMatching(/^rules\.3\.json\.time_key: empty/),
      expect.stringMatching(/^rules\.4\.format: unknown format "xml"/),
      expect.stringMatching(/^rules\.5\.measurement: no measurement/),
      expect.stringMatching(/^rules\.5\.topic: never used: rules\[3\]/),
      expect.stringMatching(/^limits\.max_payload: /),
    ]);
  });

  it('flags a rule that an earlier rule shadows', () => {
    const p = checkRules([rule('lp/#', 'line_protocol'), rule('lp/{device}', 'line_protocol')]);
    expect(p).toEqual([{ path: ['rules', 1, 'topic'], message: expect.stringContaining('never used: rules[0] ("lp/#")') }]);
  });

  it('the constructor throws a RuleSetError with the problems', () => {
    let caught: unknown;
    try {
      new RuleSet([rule('a/#/b', 'json')], limits);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RuleSetError);
    expect((caught as RuleSetError).problems).toHaveLength(1);
    expect((caught as RuleSetError).message).toMatch(/rules\.0\.topic: .*"#" must be the last level/);
  });

  it('an empty rule list decodes nothing', () => {
    const rs = new RuleSet([], limits);
    expect(rs.filters()).toEqual([]);
    expect(bad(rs, 'a', '1').reason).toBe('no_rule');
  });
});

describe('RuleSet: the per-topic cache', () => {
  const rs = new RuleSet(
    [rule('s/{site}/{device}/{measurement}', 'number', { tags: { at: '{site}-x' } }), rule('j/{device}', 'json', { measurement: 'j' })],
    limits,
  );

  it('remembers the topics of 10,000 devices sending in turn (a normal site), so each keeps its tags object', () => {
    const fresh = new RuleSet([rule('s/{site}/{device}/{measurement}', 'number')], limits);
    const first = Array.from({ length: 10_000 }, (_, i) => ok(fresh, `s/home/d${i}/temp`, '1')[0]?.tags);
    let same = 0;
    for (let i = 0; i < 10_000; i++) if (ok(fresh, `s/home/d${i}/temp`, '2')[0]?.tags === first[i]) same++;
    expect(same).toBe(10_000);
  });

  it('gives every message on a topic the same frozen tags object, and each topic its own', () => {
    const a = ok(rs, 's/home/th1/temp', '1')[0] as Reading;
    const b = ok(rs, 's/home/th1/temp', '2')[0] as Reading;
    const c = ok(rs, 's/home/th2/temp', '3')[0] as Reading;
    expect(a.tags).toBe(b.tags);
    expect(Object.isFrozen(a.tags)).toBe(true);
    expect(a.tags).toEqual({ site: 'home', device: 'th1', at: 'home-x' });
    expect(c.tags).toEqual({ site: 'home', device: 'th2', at: 'home-x' });
    expect(rs.ruleFor('j/d1')).toBe(1);
    expect(rs.ruleFor('x/d1')).toBe(-1);
    expect(bad(rs, 'x/d1', '1').reason).toBe('no_rule');
  });

  it('stays right past its bound (the oldest topics are forgotten, then matched again)', () => {
    for (let i = 0; i < 10_000; i++) {
      const r = ok(rs, `s/site${i}/d${i % 7}/m${i % 3}`, String(i))[0] as Reading;
      if (r.measurement !== `m${i % 3}` || r.tags.site !== `site${i}` || r.tags.device !== `d${i % 7}` || r.fields.value !== i)
        throw new Error(`topic ${i}: ${JSON.stringify(r.tags)}`);
    }
    expect((ok(rs, 's/site0/d0/m0', '5')[0] as Reading).tags).toEqual({ site: 'site0', device: 'd0', at: 'site0-x' });
  });
});
