/**
 * One fuzz target per shipped device profile (devices/*.yaml), built as
 * test/unit/profile-fixtures.test.ts builds them: a DeviceDecoders with the profile bound
 * to MQTT (with the fixture's vars) or to a serial port. Inputs start from the profile's
 * fixtures (test/fixtures/devices/<profile>.yaml, the vendors' documented payloads and
 * frames): each fixture mutated once, random bytes, random JSON, huge inputs, on the
 * fixture topics or mutated topics. Each case first replays the fixture's good messages
 * (so a CSV header or a Homie $description is known), then decodes 1–3 fuzzed messages.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { DeviceDecoders } from '../../src/devices/profiles/device-decoders.js';
import { loadProfiles } from '../../src/devices/profiles/load.js';
import type { Profile } from '../../src/devices/profiles/profile.js';
import type { RawMessage } from '../../src/types.js';
import { anyBytes, hugeText, jsonText, mutateBytes, mutateText, nastyText, show, textPayload } from './arbitraries.js';
import { ALL_REASONS, checkDecodeResult, noThrow, Stats, fcParams, type FuzzTarget, type RunOptions } from './check.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/devices');
const ARRIVAL = 1_705_322_400_000_000_000n;
const REASONS = new Set([...ALL_REASONS].filter((r) => r !== 'internal_error'));

interface Case {
  topic?: string;
  text?: string;
  hex?: string;
}
interface Fixture {
  profile: string;
  vars?: Record<string, string>;
  port?: string;
  cases: Case[];
  corrupt: Case[];
}

interface Msg {
  readonly topic: string;
  readonly payload: Buffer;
}

function payloadOf(c: Case): Buffer {
  return c.hex !== undefined ? Buffer.from(c.hex.replace(/\s+/g, ''), 'hex') : Buffer.from(c.text ?? '', 'utf8');
}

function messageArb(fx: Fixture): fc.Arbitrary<Msg> {
  const port = fx.port ?? 'port0';
  const all = [...fx.cases, ...fx.corrupt];
  const serial = all.every((c) => c.topic === undefined);
  const seeds = all.map((c) => ({ topic: c.topic ?? port, payload: payloadOf(c), text: c.hex === undefined }));
  const seed = fc.constantFrom(...seeds);
  const payload = seed.chain((s) =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant(s.payload) },
      { weight: 6, arbitrary: s.text ? mutateText(s.payload.toString('utf8')).map((t) => Buffer.from(t, 'utf8')) : mutateBytes(s.payload) },
      { weight: 2, arbitrary: mutateBytes(s.payload) },
      { weight: 2, arbitrary: anyBytes },
      { weight: 2, arbitrary: textPayload(jsonText).map((t) => Buffer.from(t, 'utf8')) },
      { weight: 1, arbitrary: hugeText.map((t) => Buffer.from(t, 'utf8')) },
      { weight: 1, arbitrary: fc.array(fc.constantFrom(...seeds.map((x) => x.payload)), { minLength: 2, maxLength: 400 }).map((b) => Buffer.concat(b)) },
    ),
  );
  const topics = [...new Set(seeds.map((s) => s.topic))];
  const topic = serial
    ? fc.constant(port)
    : fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...topics) },
        { weight: 3, arbitrary: fc.constantFrom(...topics).chain((t) => mutateText(t)) },
        { weight: 1, arbitrary: nastyText(30) },
      );
  return fc.record({ topic, payload });
}

function profileTarget(fx: Fixture, profile: Profile): FuzzTarget {
  const port = fx.port ?? 'port0';
  const make = () =>
    profile.spec.serial !== undefined ? new DeviceDecoders({ serial: [{ port, profile }] }) : new DeviceDecoders({ mqtt: [{ profile, vars: fx.vars ?? {} }] });
  const raw = (m: Msg): RawMessage => ({
    sourceId: m.topic === port ? port : 'broker',
    topic: m.topic,
    payload: m.payload,
    receivedAt: ARRIVAL,
    ack: () => {},
  });
  const setup = fx.cases.map((c) => raw({ topic: c.topic ?? port, payload: payloadOf(c) }));
  return {
    name: `profile ${fx.profile}`,
    fullRuns: 3_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(fc.array(messageArb(fx), { minLength: 1, maxLength: 3 }), (msgs) => {
          const dd = make();
          for (const m of setup) dd.decode(m);
          for (const m of msgs) {
            const d = () => `topic ${show(m.topic)}, payload ${show(m.payload)} (after ${show(msgs.slice(0, msgs.indexOf(m)))})`;
            const r = stats.time(d, () => noThrow(d, () => dd.decode(raw(m))), m.payload.length);
            if (r === undefined) stats.count('no_match');
            else checkDecodeResult(r, REASONS, stats, d);
          }
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

/** A target per shipped profile that has a fixture file. */
export async function profileTargets(): Promise<FuzzTarget[]> {
  const loaded = await loadProfiles();
  if (!loaded.ok) throw new Error(`shipped profiles do not load: ${JSON.stringify(loaded.errors)}`);
  const files = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  return files.map((f) => {
    const fx = parse(readFileSync(join(FIXTURES, f), 'utf8')) as Fixture;
    const p = loaded.catalog.profiles.get(fx.profile);
    if (p === undefined) throw new Error(`fixture ${f} names unknown profile ${fx.profile}`);
    return profileTarget(fx, p);
  });
}
