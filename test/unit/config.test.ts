import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatIssue, loadConfig, parseConfigText, type ConfigIssue } from '../../src/cli/load-config.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { expandEnv } from '../../src/config/secrets.js';
import type { Config } from '../../src/config/types.js';
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.js';
import { defaultFilters, sourceSubscriptions } from '../../src/devices/device-messages.js';
import { RuleSet } from '../../src/devices/rules.js';

const EXAMPLE = resolve(import.meta.dirname, '../../examples/edgeflux.yaml');

/** A minimal valid config; tests append or replace parts. */
const RULES = `rules:
  - topic: "sensors/{location}/{device}/{measurement}"
    format: json
`;
const OUTPUT = `outputs:
  - id: local
    type: influxdb_v1
    url: http://127.0.0.1:8086
    database: sensors
`;
const MINIMAL = `broker: {}\n${RULES}${OUTPUT}`;

async function load(text: string, env: NodeJS.ProcessEnv = {}, baseDir = '/etc/edgeflux'): Promise<Config> {
  const r = await parseConfigText(text, 'edgeflux.yaml', env, baseDir);
  if (!r.ok) throw new Error(`unexpected errors:\n${r.errors.map(formatIssue).join('\n')}`);
  return r.config;
}

async function errorsOf(text: string, env: NodeJS.ProcessEnv = {}, baseDir = '/etc/edgeflux'): Promise<readonly ConfigIssue[]> {
  const r = await parseConfigText(text, 'edgeflux.yaml', env, baseDir);
  if (r.ok) throw new Error('expected errors, config loaded');
  return r.errors;
}

/** The issues as `line:col key: message` for compact assertions. */
const brief = (issues: readonly ConfigIssue[]) => issues.map((i) => `${i.line}:${i.column} ${i.key}: ${i.message}`);

describe('units', () => {
  it.each([
    ['250ms', 250],
    ['1s', 1000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1m30s', 90_000],
    ['1h 30m', 5_400_000],
    ['1.5s', 1500],
    [0, 0],
    ['0', 0],
  ] as const)('duration %j = %d ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: ms });
  });

  it.each(['1x', '', 's', '10 sec', '-5s', '1m30', '0.1ms'])('rejects duration %j with a hint', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(JSON.stringify(input));
  });

  it('rejects negative and fractional numbers of ms', () => {
    expect(parseDuration(-1).ok).toBe(false);
    expect(parseDuration(1.5).ok).toBe(false);
    expect(parseDuration('1x')).toEqual({ ok: false, error: 'invalid duration "1x" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d)' });
  });

  it.each([10, '10', ' 2500 '])('rejects the bare number %j (10 s or 10 ms?), naming the units', (input) => {
    const r = parseDuration(input);
    const n = String(input).trim();
    expect(r).toEqual({ ok: false, error: `duration ${JSON.stringify(String(input))} has no unit: write ${n}s or ${n}ms (units: ms, s, m, h, d)` });
  });

  it('reports shutdown_timeout: 10 at its place instead of taking it as 10 ms', async () => {
    expect(brief(await errorsOf(`${MINIMAL}shutdown_timeout: 10\n`))).toEqual([
      '10:1 shutdown_timeout: duration "10" has no unit: write 10s or 10ms (units: ms, s, m, h, d)',
    ]);
  });

  it.each([
    ['64MiB', 64 * 1024 * 1024],
    ['10MB', 10_000_000],
    ['512KiB', 512 * 1024],
    ['1GiB', 1024 ** 3],
    ['100B', 100],
    ['1.5KiB', 1536],
    ['64 mib', 64 * 1024 * 1024],
    ['4096', 4096],
    [4096, 4096],
  ] as const)('size %j = %d bytes', (input, bytes) => {
    expect(parseSize(input)).toEqual({ ok: true, value: bytes });
  });

  it.each(['10XB', 'MiB', '1.1B', '-1KiB', '64 MiBs'])('rejects size %j', (input) => {
    const r = parseSize(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/size/);
  });

  it('formats durations back the way they are written', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(86_400_250)).toBe('1d250ms');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('the example config', () => {
  it('loads with every default applied, paths resolved, deeply frozen', async () => {
    const r = await loadConfig(EXAMPLE, {});
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    const c = r.config;
    expect(c.log).toEqual({ level: 'info' });
    expect(c.broker).toMatchObject({ host: '127.0.0.1', port: 1883, plaintext: true, anonymous: 'loopback', users: [] });
    expect(c.mqtt).toEqual([]);
    expect(c.rules).toHaveLength(3);
    expect(c.rules[0]).toEqual({
      topic: 'sensors/{location}/{device}/{measurement}',
      format: 'json',
      tags: {},
      drop_tags: [],
      json: { fields: [], rename: {}, separator: '_', integers: ['count'], tag_keys: [], time_key: 'ts', time_unit: 'ms', strings: 'keep' },
      number: {},
      pipeline: [],
    });
    expect(c.rules[1]).toMatchObject({ topic: 'plain/{device}/{field}', format: 'number', measurement: 'plain' });
    expect(c.rules[2]).toMatchObject({ topic: 'lp/#', format: 'line_protocol' });
    expect(c.outputs).toEqual([
      {
        id: 'local',
        type: 'influxdb_v1',
        url: 'http://127.0.0.1:8086',
        database: 'sensors',
        timeout: 10_000,
        gzip: false,
        batch: { max_points: 5000, max_age: 1000 },
        retry: { initial: 1000, max: 60_000 },
        concurrency: 1,
      },
    ]);
    expect(c.spool).toEqual({
      mode: 'durable',
      dir: resolve(EXAMPLE, '../spool'),
      sync: 100,
      max_bytes: 1024 ** 3,
      segment_bytes: 16 * 1024 * 1024,
      policy: 'drop-oldest',
    });
    expect(c.dead_letter).toEqual({ path: resolve(EXAMPLE, '../edgeflux-dead-letter.jsonl'), max_bytes: 10 * 1024 * 1024 });
    expect(c.limits).toEqual({ max_payload: 256 * 1024 });
    expect(c.shutdown_timeout).toBe(10_000);

    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.outputs[0]?.batch)).toBe(true);
    expect(Object.isFrozen(c.rules[0]?.json.integers)).toBe(true);
    expect(() => {
      (c.outputs[0]?.batch as { max_points: number }).max_points = 1;
    }).toThrow(TypeError);
  });

  it("fills MQTT source defaults; default filters are the rules' filters, without overlaps", async () => {
    const c = await load(`
mqtt:
  - id: site
    url: mqtt://broker.lan:1883
rules:
  - { topic: "sensors/{location}/{device}/climate", format: json, measurement: climate }
  - { topic: "sensors/{location}/{device}/{measurement}", format: json }
  - { topic: "plain/{device}/{field}", format: number, measurement: plain }
  - { topic: "lp/#", format: line_protocol }
${OUTPUT}`);
    expect(c.broker).toBeUndefined();
    expect(c.mqtt[0]).toEqual({
      id: 'site',
      url: 'mqtt://broker.lan:1883',
      protocol_version: 4,
      client_id: `edgeflux-${hostname()}-site`,
      clean: false,
      session_expiry: 86_400_000,
      keepalive: 30_000,
      connect_timeout: 10_000,
      reconnect: { initial: 1000, max: 60_000 },
      subscriptions: [],
    });
    expect(defaultFilters(new RuleSet(c.rules, c.limits))).toEqual(['sensors/+/+/+', 'plain/+/+', 'lp/#']);
    // A source without subscriptions takes the defaults at QoS 1; its own list wins otherwise.
    const defaults = defaultFilters(new RuleSet(c.rules, c.limits));
    expect(sourceSubscriptions(c.mqtt[0]!, defaults)).toEqual(defaults.map((topic) => ({ topic, qos: 1 })));
    expect(sourceSubscriptions({ subscriptions: [{ topic: 'x/#', qos: 0 }] }, defaults)).toEqual([{ topic: 'x/#', qos: 0 }]);
  });

  it('keeps explicit values: MQTT 5, shared subscriptions, v2 output', async () => {
    const c = await load(`
mqtt:
  - id: site
    url: mqtts://broker.lan:8883
    protocol_version: 5
    client_id: pi1
    clean: true
    session_expiry: 1h
    keepalive: 1m
    reconnect: { initial: 250ms, max: 30s }
    tls: { reject_unauthorized: false }
    subscriptions:
      - { topic: "$share/edgeflux/sensors/#" }
      - { topic: "other/+", qos: 0 }
${RULES}outputs:
  - id: cloud
    type: influxdb_v2
    url: https://influx.example.com
    org: home
    bucket: sensors
    gzip: true
    batch: { max_points: 1000, max_age: 250ms }
    concurrency: 2
log: { level: debug }
limits: { max_payload: 1MB }
shutdown_timeout: 1m30s
`);
    expect(c.mqtt[0]).toMatchObject({
      protocol_version: 5,
      client_id: 'pi1',
      clean: true,
      session_expiry: 3_600_000,
      keepalive: 60_000,
      reconnect: { initial: 250, max: 30_000 },
      tls: { reject_unauthorized: false },
      subscriptions: [
        { topic: '$share/edgeflux/sensors/#', qos: 1 },
        { topic: 'other/+', qos: 0 },
      ],
    });
    expect(c.outputs[0]).toMatchObject({
      type: 'influxdb_v2',
      org: 'home',
      bucket: 'sensors',
      gzip: true,
      batch: { max_points: 1000, max_age: 250 },
      concurrency: 2,
    });
    expect(c.log.level).toBe('debug');
    expect(c.limits.max_payload).toBe(1_000_000);
    expect(c.shutdown_timeout).toBe(90_000);
  });
});

describe('spool', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('defaults: durable, ./spool next to the config file, sync 100ms, 1 GiB, 16 MiB segments, drop-oldest', async () => {
    vi.stubEnv('STATE_DIRECTORY', undefined);
    const c = await load(MINIMAL);
    expect(c.spool).toEqual({
      mode: 'durable',
      dir: '/etc/edgeflux/spool',
      sync: 100,
      max_bytes: 1024 ** 3,
      segment_bytes: 16 * 1024 * 1024,
      policy: 'drop-oldest',
    });
  });

  it('under systemd, $STATE_DIRECTORY/spool unless dir is given', async () => {
    vi.stubEnv('STATE_DIRECTORY', '/var/lib/edgeflux');
    expect((await load(MINIMAL)).spool.dir).toBe('/var/lib/edgeflux/spool');
    expect((await load(`${MINIMAL}spool: { dir: ./data }\n`)).spool.dir).toBe('/etc/edgeflux/data');
  });

  it('memory mode defaults to a 64 MiB quota', async () => {
    const c = await load(`${MINIMAL}spool: { mode: memory }\n`);
    expect(c.spool).toMatchObject({ mode: 'memory', max_bytes: 64 * 1024 * 1024, policy: 'drop-oldest' });
  });

  it('keeps explicit values; segments default to at most a quarter of the quota', async () => {
    const c = await load(`${MINIMAL}spool:\n  dir: /srv/spool\n  sync: always\n  max_bytes: 8MiB\n  policy: block\n`);
    expect(c.spool).toEqual({
      mode: 'durable',
      dir: '/srv/spool',
      sync: 'always',
      max_bytes: 8 * 1024 * 1024,
      segment_bytes: 2 * 1024 * 1024,
      policy: 'block',
    });
    expect((await load(`${MINIMAL}spool: { sync: 1s, segment_bytes: 1MiB }\n`)).spool).toMatchObject({ sync: 1000, segment_bytes: 1024 * 1024 });
  });

  it('errors name the key', async () => {
    const errors = await errorsOf(`${MINIMAL}spool:\n  mdoe: memory\n  sync: often\n  policy: drop\n  max_bytes: 1KiB\n`);
    expect(brief(errors)).toEqual([
      '11:3 spool.mdoe: unknown key "mdoe" (did you mean "mode"?)',
      '12:3 spool.sync: invalid duration "often" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d), or "always"',
      '13:3 spool.policy: expected one of: drop-oldest, block',
      '14:3 spool.max_bytes: must be at least 65536 bytes',
    ]);
    expect(brief(await errorsOf(`${MINIMAL}spool:\n  max_bytes: 1MiB\n  segment_bytes: 512KiB\n`))).toEqual([
      '12:3 spool.segment_bytes: must be at most a quarter of max_bytes (1048576 bytes): the quota frees space a whole segment at a time',
    ]);
    expect(brief(await errorsOf(`${MINIMAL}spool: { sync: 0ms }\n`))).toEqual(['10:10 spool.sync: must be between 1ms and 1m, or "always"']);
  });
});

describe('errors name the line, the column and the key', () => {
  it('formats an issue as file:line:col key: message', () => {
    const issue = { file: 'edgeflux.yaml', line: 12, column: 5, key: 'outputs[0].batch.max_age', message: 'invalid duration "1x"' };
    expect(formatIssue(issue)).toBe('edgeflux.yaml:12:5 outputs[0].batch.max_age: invalid duration "1x"');
    expect(formatIssue({ ...issue, line: 0, column: 0, key: '', message: 'cannot read' })).toBe('edgeflux.yaml: cannot read');
  });

  it('a typo in a key, with a suggestion', async () => {
    const errors = await errorsOf(`${MINIMAL}log:\n  levle: debug\n`);
    expect(brief(errors)).toEqual(['11:3 log.levle: unknown key "levle" (did you mean "level"?)']);
  });

  it('a typo in an output key (strict objects everywhere, suggestion from the right output type)', async () => {
    const errors = await errorsOf(`broker: {}\n${RULES}${OUTPUT}    pasword: x\n    batch: { max_point: 10 }\n`);
    expect(brief(errors)).toEqual([
      '10:5 outputs[0].pasword: unknown key "pasword" (did you mean "password"?)',
      '11:14 outputs[0].batch.max_point: unknown key "max_point" (did you mean "max_points"?)',
    ]);
  });

  it('a wrong type', async () => {
    const errors = await errorsOf(`broker:\n  port: [11883]\n${RULES}${OUTPUT}`);
    expect(brief(errors)).toEqual(['2:3 broker.port: expected a number, got a list']);
  });

  it('a bad duration and a bad size, at the offending key', async () => {
    const errors = await errorsOf(`${MINIMAL}    batch:\n      max_age: 1x\nspool:\n  max_bytes: 10XB\n`);
    expect(brief(errors)).toEqual([
      '11:7 outputs[0].batch.max_age: invalid duration "1x" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d)',
      '13:3 spool.max_bytes: invalid size "10XB" (use e.g. 512KiB, 64MiB, 10MB, 1GiB, or a number of bytes)',
    ]);
  });

  it('a value out of range', async () => {
    const errors = await errorsOf(`broker: { port: 70000 }\n${RULES}${OUTPUT}    retry: { initial: 2m, max: 1m }\n`);
    expect(brief(errors)).toEqual(['1:11 broker.port: must be <= 65535', '10:14 outputs[0].retry.initial: must not exceed max']);
  });

  it('duplicate output ids and duplicate mqtt source ids', async () => {
    const errors = await errorsOf(`
mqtt:
  - { id: a, url: "mqtt://h1" }
  - { id: a, url: "mqtt://h2" }
  - { id: broker, url: "mqtt://h3" }
${RULES}${OUTPUT}  - id: local
    type: influxdb_v2
    url: http://x:8086
    org: o
    bucket: b
`);
    expect(brief(errors)).toEqual([
      '4:7 mqtt[1].id: duplicate mqtt source id "a" (first at mqtt[0])',
      '5:7 mqtt[2].id: id "broker" is reserved (the embedded broker)',
      '14:5 outputs[1].id: duplicate output id "local" (first at outputs[0])',
    ]);
  });

  it('no output, and no source', async () => {
    expect(brief(await errorsOf(`broker: {}\n${RULES}outputs: []\n`))).toEqual(['5:1 outputs: at least one output is required']);
    expect(brief(await errorsOf(`broker: {}\n${RULES}`))).toEqual(['1:1 outputs: at least one output is required']);
    expect(brief(await errorsOf(`${RULES}${OUTPUT}`))).toEqual([
      '1:1 : no source: configure broker (the embedded broker), at least one mqtt entry, or a serial port',
    ]);
    expect(brief(await errorsOf(`broker: {}\nrules: []\n${OUTPUT}`))).toEqual([
      '2:1 rules: at least one rule is required (or devices / serial entries that name device profiles)',
    ]);
  });

  it('a rule that an earlier rule always shadows, at its topic', async () => {
    const errors = await errorsOf(`
broker: {}
rules:
  - { topic: "sensors/#", format: json, measurement: m }
  - { topic: "sensors/{device}/x", format: json, measurement: m }
${OUTPUT}`);
    expect(errors.map(formatIssue)).toEqual([expect.stringMatching(/^edgeflux\.yaml:5:7 rules\[1\]\.topic: never used: rules\[0\]/)]);
  });

  it('an invalid topic template, and references to captures the topic lacks', async () => {
    const errors = await errorsOf(`broker: {}
rules:
  - topic: "sensors/#/{device}"
    format: json
  - topic: "plain/{device}"
    format: number
    tags: { site: "{site}" }
    drop_tags: [location]
${OUTPUT}`);
    expect(brief(errors)).toEqual([
      '3:5 rules[0].topic: invalid topic template: level 2 ("#"): "#" must be the last level',
      '5:5 rules[1].measurement: no measurement: set measurement, or add a {measurement} level to topic',
      '7:13 rules[1].tags.site: {site} is not a capture of topic "plain/{device}"',
      '8:17 rules[1].drop_tags[0]: "location" is not a capture of topic "plain/{device}"',
    ]);
  });

  it('options that do not fit the format, the URL or each other', async () => {
    const errors = await errorsOf(`mqtt:
  - id: site
    url: mqtt://broker.lan
    tls: { cert_file: /etc/edgeflux/cert.pem }
    subscriptions:
      - { topic: "a/#/b" }
      - { topic: "$share//x" }
rules:
  - topic: "plain/{device}/{field}"
    format: number
    measurement: plain
    json: { integers: [n] }
${OUTPUT}`);
    expect(brief(errors)).toEqual([
      '4:5 mqtt[0].tls.key_file: a client certificate needs both cert and key',
      '4:12 mqtt[0].tls.cert_file: cannot read "/etc/edgeflux/cert.pem": no such file',
      '6:11 mqtt[0].subscriptions[0].topic: "#" must be the last level',
      '7:11 mqtt[0].subscriptions[1].topic: a shared subscription is $share/<group>/<filter>',
      '12:5 rules[0].json: json options need format: json',
    ]);
    const tls = await errorsOf(`mqtt:\n  - id: site\n    url: mqtt://broker.lan\n    tls: { reject_unauthorized: false }\n${RULES}${OUTPUT}`);
    expect(brief(tls)).toEqual(['4:5 mqtt[0].tls: tls is set but the URL is not mqtts:// or wss://']);
  });

  it('a wrong output type names the choices', async () => {
    const errors = await errorsOf(`broker: {}\n${RULES}outputs:\n  - id: x\n    type: influxdb_v3\n`);
    expect(brief(errors)).toEqual(['7:5 outputs[0].type: must be one of: influxdb_v1, influxdb_v2']);
  });

  it('a missing required key points at its parent', async () => {
    const errors = await errorsOf(`broker: {}\n${RULES}outputs:\n  - id: x\n    type: influxdb_v1\n    url: http://x\n`);
    expect(brief(errors)).toEqual(['6:5 outputs[0].database: required']);
  });

  it('YAML syntax errors, with their line and column', async () => {
    const errors = await errorsOf('broker: {}\nrules: [\n  { topic: "a/b", format: json\noutputs: x\n');
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) {
      expect(e.file).toBe('edgeflux.yaml');
      expect(e.line).toBeGreaterThanOrEqual(2);
      expect(e.column).toBeGreaterThanOrEqual(1);
    }
    expect(brief(await errorsOf(`${MINIMAL}broker: {}\n`))).toEqual(['10:1 : Map keys must be unique']);
    expect(brief(await errorsOf('a:\n\tb: 1\n'))).toEqual(['2:1 : Tabs are not allowed as indentation']);
  });

  it('an unclosed quote is reported where it opens, not at the end of the file', async () => {
    const text = `broker: {}\nrules:\n  - topic: "sensors/{device}\n    format: json\n${OUTPUT}`;
    expect(brief(await errorsOf(text))).toEqual(['3:12 : this " quote is never closed (the string runs on to the end of the file)']);
    expect(brief(await errorsOf(`log: { level: 'info }\n${MINIMAL}`))).toEqual([
      `1:15 : this ' quote is never closed (the string runs on to the end of the file)`,
    ]);
  });

  it('reports every error at once, in file order', async () => {
    const errors = await errorsOf(`log:
  level: loud
broker:
  hots: 0.0.0.0
rules:
  - topic: "a/{x}/{x}"
    format: xml
outputs:
  - id: one
    type: influxdb_v1
    url: not a url
    database: db
    timeout: soon
  - id: one
    type: influxdb_v2
    url: http://x
    org: o
    bucket: b
    concurrency: 0
shutdown_timeout: 5 minutes
`);
    expect(brief(errors)).toEqual([
      '2:3 log.level: expected one of: trace, debug, info, warn, error, fatal, silent',
      '4:3 broker.hots: unknown key "hots" (did you mean "host"?)',
      '6:5 rules[0].topic: invalid topic template: level 3 ("{x}"): duplicate capture name "x"',
      '7:5 rules[0].format: expected one of: json, number, line_protocol',
      '11:5 outputs[0].url: invalid URL (expected http://, https://...)',
      '13:5 outputs[0].timeout: invalid duration "soon" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d)',
      '14:5 outputs[1].id: duplicate output id "one" (first at outputs[0])',
      '19:5 outputs[1].concurrency: must be >= 1',
      '20:1 shutdown_timeout: invalid duration "5 minutes" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d)',
    ]);
  });

  it('an empty file, or one that is not a mapping', async () => {
    expect(brief(await errorsOf('# nothing yet\n'))).toEqual(['1:1 : the config file is empty']);
    expect(brief(await errorsOf('- a\n- b\n'))).toEqual(['1:1 : expected a mapping, got a list']);
  });

  it('an unreadable config file is one issue without a line', async () => {
    const r = await loadConfig('/nonexistent/edgeflux.yaml', {});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatIssue)).toEqual(['/nonexistent/edgeflux.yaml: cannot read the config file: no such file']);
  });
});

describe('environment references', () => {
  it('expands ${NAME}, ${NAME:-default}, and $${ as a literal', () => {
    const env = { HOST: 'influx.lan', EMPTY: '' };
    expect(expandEnv('http://${HOST}:8086', env)).toEqual({ ok: true, value: 'http://influx.lan:8086' });
    expect(expandEnv('${NOPE:-fallback}/${EMPTY:-x}/${HOST:-y}', env)).toEqual({ ok: true, value: 'fallback/x/influx.lan' });
    expect(expandEnv('$${HOST} and $share/g/t', env)).toEqual({ ok: true, value: '${HOST} and $share/g/t' });
    expect(expandEnv('${NOPE}', env)).toEqual({ ok: false, error: 'environment variable NOPE is not set (set it, or write ${NOPE:-default})' });
    expect(expandEnv('${HOST', env).ok).toBe(false);
    expect(expandEnv('${1BAD}', env).ok).toBe(false);
  });

  it('substitutes in any string value; numbers and booleans from the environment are typed', async () => {
    const c = await load(
      `broker:
  host: \${BIND:-127.0.0.1}
  port: \${PORT}
${RULES}outputs:
  - id: local
    type: influxdb_v1
    url: http://\${INFLUX_HOST}:8086
    database: \${DB:-sensors}
    gzip: \${GZIP}
    batch: { max_age: "\${AGE}" }
    username: "$\${literal}"
`,
      { PORT: '1884', INFLUX_HOST: 'influx.lan', GZIP: 'true', AGE: '2s' },
    );
    expect(c.broker).toMatchObject({ host: '127.0.0.1', port: 1884 });
    expect(c.outputs[0]).toMatchObject({ url: 'http://influx.lan:8086', database: 'sensors', gzip: true, batch: { max_age: 2000 }, username: '${literal}' });
  });

  it('a missing variable is an error at its key, reported once, with the others', async () => {
    const errors = await errorsOf(`broker:\n  port: \${PORT}\n${RULES}${OUTPUT}    password: \${INFLUX_PASSWORD}\n`);
    expect(brief(errors)).toEqual([
      '2:3 broker.port: environment variable PORT is not set (set it, or write ${PORT:-default})',
      '11:5 outputs[0].password: environment variable INFLUX_PASSWORD is not set (set it, or write ${INFLUX_PASSWORD:-default})',
    ]);
  });
});

describe('secrets from files', () => {
  let dir: string;
  const SECRET = 's3cr3t-Very-Private';
  const TOKEN = 'tok-0123456789abcdef';
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeflux-config-'));
    await writeFile(join(dir, 'mqtt.pass'), `${SECRET}\n`);
    await writeFile(join(dir, 'influx-token'), `${TOKEN}\r\n`);
    await writeFile(join(dir, 'ca.pem'), PEM);
    await writeFile(join(dir, 'empty'), '\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const withSecrets = (extraOutput = '') => `mqtt:
  - id: site
    url: mqtts://broker.lan
    username: edgeflux
    password_file: mqtt.pass
    tls: { ca_file: ./ca.pem }
${RULES}outputs:
  - id: cloud
    type: influxdb_v2
    url: https://influx.example.com
    org: home
    bucket: sensors
    token_file: \${CREDENTIALS_DIRECTORY}/influx-token
${extraOutput}`;

  it('reads *_file keys (relative to the config file, trailing newline trimmed, PEM verbatim) and $CREDENTIALS_DIRECTORY', async () => {
    const path = join(dir, 'edgeflux.yaml');
    await writeFile(path, withSecrets());
    const r = await loadConfig(path, { CREDENTIALS_DIRECTORY: dir });
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    const c = r.config;
    expect(c.mqtt[0]?.password).toBe(SECRET);
    expect(c.mqtt[0]?.tls).toEqual({ ca: PEM, reject_unauthorized: true });
    expect(c.outputs[0]).toMatchObject({ type: 'influxdb_v2', token: TOKEN });
    expect(c.outputs[0]).not.toHaveProperty('token_file');
    expect(c.mqtt[0]).not.toHaveProperty('password_file');
    expect(c.dead_letter.path).toBe(join(dir, 'edgeflux-dead-letter.jsonl'));
  });

  it('CREDENTIALS_DIRECTORY unset is an error with a hint', async () => {
    const errors = await errorsOf(withSecrets(), {}, dir);
    expect(brief(errors)).toEqual([
      '16:5 outputs[0].token_file: environment variable CREDENTIALS_DIRECTORY is not set (systemd sets it for services with LoadCredential=)',
    ]);
  });

  it('missing, empty or non-regular files are errors at their key', async () => {
    const errors = await errorsOf(
      `mqtt:
  - id: site
    url: mqtts://broker.lan
    password_file: nope.pass
    tls: { ca_file: ., cert_file: empty, key_file: empty }
${RULES}${OUTPUT}`,
      {},
      dir,
    );
    expect(brief(errors)).toEqual([
      `4:5 mqtt[0].password_file: cannot read ${JSON.stringify(join(dir, 'nope.pass'))}: no such file`,
      `5:12 mqtt[0].tls.ca_file: cannot read ${JSON.stringify(dir)}: not a regular file`,
      `5:24 mqtt[0].tls.cert_file: ${JSON.stringify(join(dir, 'empty'))} is empty`,
      `5:42 mqtt[0].tls.key_file: ${JSON.stringify(join(dir, 'empty'))} is empty`,
    ]);
  });

  it('setting both a secret and its *_file is an error', async () => {
    const errors = await errorsOf(withSecrets(`    token: ${TOKEN}\n`), { CREDENTIALS_DIRECTORY: dir }, dir);
    expect(brief(errors)).toEqual(['16:5 outputs[0].token_file: set either token or token_file, not both']);
  });

  it('never puts a secret value in any message', async () => {
    const env = { CREDENTIALS_DIRECTORY: dir, MQTT_PASSWORD: SECRET };
    const text = `mqtt:
  - id: site
    url: mqtt://broker.lan
    password: \${MQTT_PASSWORD}
    password_file: mqtt.pass
    tls: { ca_file: ca.pem, key: "${SECRET}" }
  - id: other
    url: "mqtt://user:${SECRET}@broker.lan"
    password: 12345
    tls: { cert: "${SECRET}", reject_unauthorized: "${SECRET}" }
${RULES}outputs:
  - id: cloud
    type: influxdb_v2
    url: "${SECRET}"
    org: home
    bucket: sensors
    token_file: \${CREDENTIALS_DIRECTORY}/influx-token
    token: ${TOKEN}
    timeout: ${SECRET}
  - id: v1
    type: influxdb_v1
    url: http://x
    database: db
    password: [${SECRET}]
`;
    const errors = await errorsOf(text, env, dir);
    expect(errors.length).toBeGreaterThanOrEqual(6);
    const all = errors.map(formatIssue).join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('12345');
    // The one place a value is quoted is a duration (timeout), which is not a secret key:
    expect(all.replace(`invalid duration "${SECRET}"`, '')).not.toContain(SECRET);

    const yamlError = await errorsOf(`password: ${SECRET}: x\n- ${TOKEN}\n`, env, dir);
    expect(yamlError.length).toBeGreaterThan(0);
    expect(yamlError.map(formatIssue).join('\n')).not.toMatch(new RegExp(`${SECRET}|${TOKEN}`));
  });
});

describe('JSON Schema for editors', () => {
  type JS = {
    type?: string | string[];
    properties?: Record<string, JS>;
    additionalProperties?: boolean | JS;
    required?: string[];
    items?: JS;
    oneOf?: JS[];
    anyOf?: JS[];
    enum?: unknown[];
    const?: unknown;
    pattern?: string;
    description?: string;
    default?: unknown;
  };
  const schema = JSON.parse(JSON.stringify(configJsonSchema())) as JS;

  /** A small validator for the keywords our schema uses: enough to check the example. */
  function validate(s: JS, v: unknown, path: string, out: string[]): void {
    const alts = s.oneOf ?? s.anyOf;
    if (alts) {
      const ok = alts.filter((a) => {
        const e: string[] = [];
        validate(a, v, path, e);
        return e.length === 0;
      });
      if (ok.length === 0 || (s.oneOf && ok.length > 1)) out.push(`${path}: matches ${ok.length} alternatives`);
      return;
    }
    const kind = Array.isArray(v) ? 'array' : v === null ? 'null' : Number.isInteger(v) ? 'integer' : typeof v;
    const types = s.type === undefined ? undefined : ([] as string[]).concat(s.type);
    if (types && !types.includes(kind) && !(kind === 'integer' && types.includes('number'))) out.push(`${path}: ${kind} is not ${types.join('|')}`);
    if (s.enum && !s.enum.includes(v)) out.push(`${path}: not in enum`);
    if (s.const !== undefined && s.const !== v) out.push(`${path}: not ${String(s.const)}`);
    if (s.pattern && typeof v === 'string' && !new RegExp(s.pattern).test(v)) out.push(`${path}: pattern`);
    if (kind === 'array' && s.items) (v as unknown[]).forEach((x, i) => validate(s.items as JS, x, `${path}[${i}]`, out));
    if (kind === 'object') {
      const obj = v as Record<string, unknown>;
      for (const r of s.required ?? []) if (!(r in obj)) out.push(`${path}.${r}: required`);
      for (const [k, x] of Object.entries(obj)) {
        const p = s.properties?.[k];
        if (p) validate(p, x, `${path}.${k}`, out);
        else if (s.additionalProperties === false) out.push(`${path}.${k}: unknown key`);
        else if (typeof s.additionalProperties === 'object') validate(s.additionalProperties, x, `${path}.${k}`, out);
      }
    }
  }

  it('is draft-07 JSON with descriptions on keys', () => {
    expect(schema).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false });
    const props = schema.properties ?? {};
    for (const key of ['log', 'broker', 'mqtt', 'rules', 'outputs', 'dead_letter', 'limits', 'shutdown_timeout']) {
      expect(props[key]?.description, key).toMatch(/\w/);
    }
    expect(props.broker?.properties?.port?.description).toMatch(/port/i);
    expect(props.rules?.items?.properties?.topic?.description).toMatch(/\{name\}/);
  });

  it('describes the input side: durations as strings or numbers, *_file keys, ${ENV} for numbers', () => {
    const props = schema.properties ?? {};
    expect(props.shutdown_timeout).toMatchObject({ type: ['string', 'number'], default: '10s' });
    const mqtt = props.mqtt?.items?.properties ?? {};
    expect(Object.keys(mqtt)).toEqual(expect.arrayContaining(['password', 'password_file', 'tls', 'subscriptions']));
    expect(Object.keys(mqtt.tls?.properties ?? {})).toEqual(expect.arrayContaining(['ca_file', 'cert_file', 'key_file']));
    const [v1, v2] = props.outputs?.items?.oneOf ?? [];
    expect(v1?.properties?.type?.const).toBe('influxdb_v1');
    expect(v1?.properties?.password_file?.description).toMatch(/CREDENTIALS_DIRECTORY/);
    expect(v2?.properties?.token_file?.type).toBe('string');
    expect(v2?.properties).not.toHaveProperty('token_file_contents');
    expect(v1?.properties).not.toHaveProperty('max_pending');
    const spool = props.spool?.properties ?? {};
    expect(spool.mode).toMatchObject({ enum: ['durable', 'memory'], default: 'durable' });
    expect(spool.policy).toMatchObject({ enum: ['drop-oldest', 'block'], default: 'drop-oldest' });
    expect(spool.sync).toMatchObject({ type: ['string', 'number'], default: '100ms' });
    expect(spool.max_bytes?.description).toMatch(/1GiB \(durable\) or 64MiB \(memory\)/);
    expect(spool.dir?.description).toMatch(/STATE_DIRECTORY/);
    expect(props.broker?.properties?.port?.anyOf?.map((a) => a.type)).toEqual(['integer', 'string']);
    expect(props.outputs?.items?.oneOf?.[0]?.properties?.batch?.properties?.max_points?.default).toBe(5000);
  });

  it('accepts the example config and rejects a typo', async () => {
    const { parse } = await import('yaml');
    const { readFile } = await import('node:fs/promises');
    const example = parse(await readFile(EXAMPLE, 'utf8')) as Record<string, unknown>;
    const out: string[] = [];
    validate(schema, example, '', out);
    expect(out).toEqual([]);

    const typo: string[] = [];
    validate(schema, { ...example, log: { levle: 'info' }, shutdown_timeout: true }, '', typo);
    expect(typo).toEqual(['.log.levle: unknown key', '.shutdown_timeout: boolean is not string|number']);

    const envPort: string[] = [];
    validate(schema, { ...example, broker: { port: '${PORT}' } }, '', envPort);
    expect(envPort).toEqual([]);
  });
});

describe('hostile YAML', () => {
  it('a YAML alias to its own node is an error at its place, not a stack overflow', async () => {
    const r = await parseConfigText('broker: {}\nrules: &a [*a]\noutputs: []\n', 'edgeflux.yaml', {}, '/etc/edgeflux');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatIssue)).toContain('edgeflux.yaml:2:12 rules[0]: a value that contains itself (a YAML alias to its own node)');
  });
});

describe('ignore:', () => {
  it("takes MQTT topic filters; a filter that covers a rule's whole topic is a warning at its place", async () => {
    const text = `broker: {}\nignore: ["tele/+/STATE", "sensors/#", "homeassistant/#"]\n${RULES}${OUTPUT}`;
    const r = await parseConfigText(text, 'edgeflux.yaml', {}, '/etc/edgeflux');
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.ignore).toEqual(['tele/+/STATE', 'sensors/#', 'homeassistant/#']);
    expect(brief(r.warnings ?? [])).toEqual([
      '2:26 ignore[1]: "sensors/#" shadows rules[0] ("sensors/{location}/{device}/{measurement}"): its messages are ignored before the rule sees them',
    ]);
  });

  it('refuses an invalid filter or a shared subscription, naming it', async () => {
    expect(brief(await errorsOf(`broker: {}\nignore: ["a/#/b", "$share/g/x"]\n${RULES}${OUTPUT}`))).toEqual([
      expect.stringMatching(/^2:10 ignore\[0\]: "#" must be the last level/),
      '2:19 ignore[1]: a shared subscription is not a topic to ignore',
    ]);
  });
});
