/**
 * Device pipelines: a profile's `pipeline:` and a device entry's own (devices[], serial[])
 * are validated at their place (profile file or config file), each binding gets its
 * effective steps (entry ?? profile ?? none), `bindingFor()` names the binding that
 * `decode()` uses, and the shaping stage routes a profiled message to its binding's chain,
 * never to the chain of a rule that also matches its topic.
 */
import { Writable } from 'node:stream';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatIssue, parseConfigText, type ConfigIssue } from '../../src/cli/load-config.js';
import type { Config, InfluxV1OutputConfig } from '../../src/config/types.js';
import { decodeDeviceMessage, loadDevices } from '../../src/devices/device-messages.js';
import { DeviceDecoders } from '../../src/devices/profiles/device-decoders.js';
import { parseProfileText } from '../../src/devices/profiles/load.js';
import type { Profile } from '../../src/devices/profiles/profile.js';
import { RuleSet } from '../../src/devices/rules.js';
import type { JournalRecord } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory-journal.js';
import { Counters } from '../../src/observe/counters.js';
import { createLogger, silentLogger } from '../../src/observe/logger.js';
import { createShaping } from '../../src/pipeline/shaping.js';
import { Drain } from '../../src/sink/drain.js';
import { type Writer, bodyText, type Body } from '../../src/sink/influx-writer.js';
import { Output } from '../../src/sink/output.js';
import { tempDir } from '../helpers/net.js';

const THERMO = `name: thermo
description: my thermometers
vars: { base: home }
mqtt:
  topics: ["%base%/{device}/th"]
  availability:
    - { topic: "%base%/{device}/status", online: up, offline: down }
decode:
  decoder: json
  params: { time_key: ts, time_unit: ms }
measurement: climate
fields:
  - { name: temperature }
pipeline:
  - deadband: { field: temperature, abs: 0.5 }
`;

function profile(yaml: string, file = 'my.yaml'): Profile {
  const errors: ConfigIssue[] = [];
  const p = parseProfileText(yaml, file, 'user', errors);
  if (p === undefined) throw new Error(errors.map(formatIssue).join('\n'));
  return p;
}

function profileProblems(yaml: string): string[] {
  const errors: ConfigIssue[] = [];
  expect(parseProfileText(yaml, 'my.yaml', 'user', errors)).toBeUndefined();
  return errors.map(formatIssue);
}

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('edgeflux-profile-pipeline-');
  await mkdir(join(dir.path, 'profiles'));
  await writeFile(join(dir.path, 'profiles', 'thermo.yaml'), THERMO);
});
afterAll(async () => dir?.cleanup());

const CONFIG_HEAD = `device_profiles: { dirs: [profiles] }
outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: sensors }
`;

async function load(text: string): Promise<{ config?: Config; errors: string[] }> {
  const r = await parseConfigText(CONFIG_HEAD + text, join(dir.path, 'edgeflux.yaml'), {}, dir.path);
  return r.ok ? { config: r.config, errors: [] } : { errors: r.errors.map(formatIssue).map((e) => e.replace(dir.path + '/', '')) };
}

describe('validation', () => {
  it("a profile's steps are validated like the config's, durations in ms", () => {
    const p = profile(THERMO.replace('abs: 0.5 }', 'abs: 0.5, heartbeat: 5m }\n  - window: { every: 1m }'));
    expect(p.spec.pipeline).toEqual([
      { deadband: { abs: 0.5, heartbeat: 300_000, fields: ['temperature'] } },
      { window: expect.objectContaining({ every: 60_000, aggregates: ['mean'] }) },
    ]);
  });

  it('a bad step in a profile file is reported in that file at its line, column and key', () => {
    expect(profileProblems(THERMO.replace('deadband: { field: temperature, abs: 0.5 }', 'window: { every: nope }'))).toEqual([
      expect.stringMatching(/^my\.yaml:15:15 pipeline\[0\]\.window\.every: invalid duration /),
    ]);
    expect(profileProblems(`${THERMO}  - dedupe: {}\n    throttle: { interval: 1s }\n`)).toEqual([
      'my.yaml:17:5 pipeline[1].throttle: one operator per step, found dedupe and throttle: make them separate list entries',
    ]);
  });

  it('a bad step of a devices[] or serial[] entry is reported in the config at its place', async () => {
    const { errors } = await load(`devices:
  - profile: thermo
    pipeline:
      - deadband: { abs: -1 }
serial:
  - id: sds
    path: /dev/ttyUSB0
    profile: sds011
    pipeline: [{ dedup: {} }]
`);
    expect(errors).toEqual([
      expect.stringMatching(/^edgeflux\.yaml:7:21 devices\[0\]\.pipeline\[0\]\.deadband\.abs: must be >= 0/),
      expect.stringMatching(/^edgeflux\.yaml:12:18 serial\[0\]\.pipeline\[0\]\.dedup: unknown key "dedup"/),
    ]);
  });

  it("a port without a profile has no pipeline of its own: its rule's applies", async () => {
    const { errors } = await load(`serial:
  - id: gps
    path: /dev/ttyUSB0
    framing: { type: readline }
    pipeline: [{ dedupe: {} }]
rules:
  - { topic: gps, format: number, measurement: gps }
`);
    expect(errors).toEqual(['edgeflux.yaml:8:5 serial[0].pipeline: a port without a profile is decoded by the rules: set the pipeline on its rule']);
  });

  it("each binding's steps: the entry's own replace its profile's; absent, the profile's; neither, none", async () => {
    const { config, errors } = await load(`devices:
  - profile: thermo
  - { profile: thermo, vars: { base: garden }, pipeline: [{ dedupe: {} }] }
  - { profile: thermo, vars: { base: attic }, pipeline: [] }
  - { profile: tasmota }
serial:
  - { id: sds, path: /dev/ttyUSB0, profile: sds011, pipeline: [{ throttle: { interval: 10s } }] }
  - { id: pms, path: /dev/ttyUSB1, profile: pms5003 }
`);
    expect(errors).toEqual([]);
    const devices = await loadDevices(config!, silentLogger());
    expect(devices?.decoders.pipelines).toEqual([
      [{ deadband: { abs: 0.5, fields: ['temperature'] } }],
      [{ dedupe: {} }],
      [],
      [],
      [{ throttle: { interval: 10_000, keep: 'last' } }],
      [],
    ]);
  });
});

describe('DeviceDecoders.bindingFor', () => {
  const thermo = profile(THERMO);
  const wide = profile('name: wide\ndescription: any th\nmqtt: { topics: ["+/{device}/th"] }\ndecode: { decoder: json }\nmeasurement: m\n');
  const sds = profile('name: s\ndescription: d\nserial: { framing: { type: byte_length, length: 10 } }\ndecode: { decoder: sds011 }\nmeasurement: pm\n');
  const dd = new DeviceDecoders({
    mqtt: [{ profile: thermo }, { profile: thermo, vars: { base: 'garden' }, pipeline: [{ dedupe: {} }] }, { profile: wide }],
    serial: [
      { port: 'sds', profile: sds },
      { port: 'sds2', profile: sds, pipeline: [{ dedupe: {} }] },
    ],
  });
  const m = (topic: string, sourceId = 'broker') => ({ sourceId, topic, payload: Buffer.from('{"temperature":1}'), receivedAt: 1n, ack: () => {} });

  it('names the binding decode() uses: data and availability topics, serial ports; undefined when none matches', () => {
    expect(dd.bindingFor(m('home/t1/th'))).toBe(0);
    expect(dd.bindingFor(m('home/t1/status'))).toBe(0); // availability counts for its binding
    expect(dd.bindingFor(m('garden/g1/th'))).toBe(1);
    expect(dd.bindingFor(m('attic/a1/th'))).toBe(2); // first match: only the wide binding
    expect(dd.bindingFor(m('sds', 'sds'))).toBe(3); // serial ports after the MQTT bindings
    expect(dd.bindingFor(m('sds2', 'sds2'))).toBe(4);
    expect(dd.bindingFor(m('other/x'))).toBeUndefined();
    expect(dd.bindingFor(m('sds', 'broker'))).toBeUndefined(); // a port's topic from another source
    expect(dd.bindingFor(m('garden/g1/status'))).toBe(1);
    expect(dd.matches(m('other/x'))).toBe(false);
    expect(dd.matches(m('garden/g1/th'))).toBe(true);
    expect(dd.pipelines).toEqual([[], [{ dedupe: {} }], [], [], [{ dedupe: {} }]]);
  });

  it('agrees with decode(): the same binding decodes the message', () => {
    expect(dd.decode(m('home/t1/th'))).toMatchObject([{ measurement: 'climate' }]);
    expect(dd.decode(m('attic/a1/th'))).toMatchObject([{ measurement: 'm' }]);
    expect(dd.decode(m('home/t1/status'))).toMatchObject({ kind: 'decode_error' }); // payload is no known state, still its binding's
    expect(dd.decode(m('other/x'))).toBeUndefined();
  });
});

// The drain with the shaping stage built like the daemon does (config → profiles, rules,
// createShaping), on vitest's fake timers.
describe("shaping routes profiled readings to their binding's chain", () => {
  const MS = 1_000_000n;
  const cfg: InfluxV1OutputConfig = {
    id: 'out',
    type: 'influxdb_v1',
    url: 'http://127.0.0.1:8086',
    database: 'db',
    timeout: 1000,
    gzip: false,
    batch: { max_points: 100, max_age: 100 },
    retry: { initial: 100, max: 1000 },
    concurrency: 1,
  };
  let written: string[];
  let drain: Drain | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ now: 100_000 });
    written = [];
  });
  afterEach(async () => {
    await drain?.stop(1000, false);
    drain = undefined;
    vi.useRealTimers();
  });

  async function run(text: string, msgs: readonly [topic: string, temperature: number][]): Promise<ReturnType<typeof createShaping>> {
    vi.useRealTimers(); // loading profiles reads files with a timeout signal
    const { config, errors } = await load(`broker: {}\n${text}`);
    vi.useFakeTimers({ now: 100_000 });
    expect(errors).toEqual([]);
    const devices = await loadDevices(config!, silentLogger());
    const rules = new RuleSet(config!.rules, config!.limits);
    const shaping = createShaping({
      steps: config!.pipeline,
      rules: config!.rules,
      ruleFor: (t) => rules.ruleFor(t),
      devices: devices?.decoders,
      onNotice: () => {},
    });
    const journal = new MemoryJournal({ maxBytes: 1 << 20, policy: 'drop-oldest' });
    await journal.open();
    msgs.forEach(([topic, temperature], i) =>
      journal.append({ sourceId: 'broker', topic, payload: Buffer.from(JSON.stringify({ ts: i, temperature })), receivedAt: 100_000n * MS }),
    );
    const writer: Writer = {
      write: async (body: Body) => void written.push(...bodyText(body).split('\n')),
      close: () => {},
    };
    const counters = new Counters();
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const output = new Output({ config: cfg, writer, counters, logger, deadLetter: { record: () => {} } });
    journal.addConsumer(cfg.id);
    const decode = (r: JournalRecord) => decodeDeviceMessage(r, devices?.decoders, rules);
    drain = new Drain({ journal, output, decode, logger, counters, ...shaping });
    drain.start();
    await vi.advanceTimersByTimeAsync(cfg.batch.max_age);
    return shaping;
  }

  /** Written temperatures per measurement and device tag, in order. */
  function points(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const l of written) {
      const m = /^(\w+),device=(\w+)\S* (\w+)=([\d.]+)/.exec(l);
      if (m === null) throw new Error(`unexpected line ${l}`);
      (out[`${m[1]}/${m[2]}/${m[3]}`] ??= []).push(Number(m[4]));
    }
    return out;
  }

  it("a profile's deadband applies to its devices; a rule matching the same topic adds none of its steps", async () => {
    const shaping = await run(
      `devices:
  - profile: thermo
  - { profile: thermo, vars: { base: garden }, pipeline: [] }
rules:
  - topic: "{site}/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms }
    pipeline: [{ dedupe: {} }]
`,
      [
        ['home/t1/th', 20],
        ['home/t1/th', 20.2],
        ['home/t1/th', 20.6],
        ['home/t1/th', 20.7],
        ['home/t1/th', 21.5],
        ['garden/g1/th', 10],
        ['garden/g1/th', 10],
        ['garden/g1/th', 10.2], // the entry's [] replaces the deadband; the rule's dedupe is not theirs
        ['other/o1/th', 5],
        ['other/o1/th', 5],
        ['other/o1/th', 6], // the rule decodes these: its dedupe applies
      ],
    );
    expect(shaping).toBeDefined();
    expect(points()).toEqual({
      'climate/t1/temperature': [20, 20.6, 21.5],
      'climate/g1/temperature': [10, 10, 10.2],
      'th/o1/temperature': [5, 6],
    });
  });

  it("the global pipeline runs on the device's readings too; no step anywhere: no stage", async () => {
    await run(
      `devices:
  - profile: thermo
  - { profile: thermo, vars: { base: garden } }
pipeline:
  - series_limit: { max_series: 1 }
`,
      [
        ['home/t1/th', 20],
        ['home/t1/th', 20.2],
        ['home/t1/th', 20.6],
        ['garden/g1/th', 10],
      ], // g1: a second series
    );
    expect(points()).toEqual({ 'climate/t1/temperature': [20, 20.6] });
    await drain?.stop(1000, false);
    drain = undefined;
    vi.useRealTimers();
    const { config } = await load('broker: {}\ndevices:\n  - { profile: thermo, pipeline: [] }\n');
    const devices = await loadDevices(config!, silentLogger());
    expect(createShaping({ steps: [], rules: [], ruleFor: () => -1, devices: devices?.decoders, onNotice: () => {} })).toBeUndefined();
  });
});
