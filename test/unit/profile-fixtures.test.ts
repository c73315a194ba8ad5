/**
 * Every shipped profile against its fixtures (test/fixtures/devices/<profile>.yaml),
 * written from the vendors' documented payloads and frame formats: each good case decodes
 * to exactly the expected readings (or device status), each corrupt variant is rejected
 * with the expected reason. Cases run in order through one decoder set (so a Homie
 * $description or a CSV header is remembered), except those marked `fresh`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseIsoNs } from '../../src/devices/timestamps.js';
import { DeviceDecoders } from '../../src/devices/profiles/device-decoders.js';
import { loadProfiles, type ProfileCatalog } from '../../src/devices/profiles/load.js';
import { PROFILE_DECODE_REASONS, isDeviceStatus, type DeviceDecodeResult } from '../../src/devices/profiles/types.js';
import type { FieldValue, RawMessage, Reading } from '../../src/types.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/devices');
/** Arrival time of every fixture message: 2024-01-15T12:40:00Z. */
export const ARRIVAL = 1_705_322_400_000_000_000n;

interface ExpectedReading {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, string | number | boolean>;
  time?: string;
}
interface Case {
  name: string;
  topic?: string;
  text?: string;
  hex?: string;
  fresh?: boolean;
  readings?: ExpectedReading[];
  status?: { device: string; state: string; raw: string; tags?: Record<string, string> };
  reason?: string;
}
interface Fixture {
  profile: string;
  source: string;
  vars?: Record<string, string>;
  port?: string;
  cases: Case[];
  corrupt: Case[];
}

function fieldValue(v: string | number | boolean): FieldValue {
  return typeof v === 'string' && /^-?\d+i$/.test(v) ? BigInt(v.slice(0, -1)) : v;
}

export function expectedReadings(list: readonly ExpectedReading[]): Reading[] {
  return list.map((r) => ({
    measurement: r.measurement,
    tags: r.tags,
    fields: Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, fieldValue(v)])),
    time: r.time === undefined || r.time === 'arrival' ? ARRIVAL : (parseIsoNs(r.time) ?? BigInt(r.time)),
  }));
}

function show(r: DeviceDecodeResult | undefined): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'));
const fixtures = files.map((f) => parse(readFileSync(join(FIXTURES, f), 'utf8')) as Fixture);

let catalog: ProfileCatalog;
beforeAll(async () => {
  const r = await loadProfiles();
  expect(r.ok, r.ok ? '' : JSON.stringify(r.errors)).toBe(true);
  catalog = r.catalog;
});

it('every shipped profile has a fixture file with good and corrupt cases', () => {
  const names = [...catalog.profiles.values()]
    .filter((p) => p.origin === 'shipped')
    .map((p) => p.spec.name)
    .sort();
  expect(names.length).toBeGreaterThanOrEqual(12);
  expect(fixtures.map((f) => f.profile).sort()).toEqual(names);
  for (const f of fixtures) {
    expect(f.cases.length, f.profile).toBeGreaterThanOrEqual(2);
    expect(f.corrupt.filter((c) => c.reason !== undefined).length, f.profile).toBeGreaterThanOrEqual(3);
    expect(f.source, f.profile).toMatch(/\S/);
  }
});

describe.each(fixtures.map((f) => [f.profile, f] as const))('profile %s', (_name, fx) => {
  const make = () => {
    const profile = catalog.profiles.get(fx.profile);
    if (profile === undefined) throw new Error(`no profile ${fx.profile}`);
    return profile.spec.serial !== undefined
      ? new DeviceDecoders({ serial: [{ port: fx.port ?? 'port0', profile }] })
      : new DeviceDecoders({ mqtt: [{ profile, vars: fx.vars ?? {} }] });
  };
  const message = (c: Case): RawMessage => {
    const payload = c.hex !== undefined ? Buffer.from(c.hex.replace(/\s+/g, ''), 'hex') : Buffer.from(c.text ?? '', 'utf8');
    const topic = c.topic ?? fx.port ?? 'port0';
    return { sourceId: c.topic === undefined ? topic : 'broker', topic, payload, receivedAt: ARRIVAL, ack: () => {} };
  };

  it('decodes each documented payload to the exact readings', () => {
    let dd = make();
    for (const c of fx.cases) {
      if (c.fresh) dd = make();
      const r = dd.decode(message(c));
      if (c.status !== undefined) {
        expect(isDeviceStatus(r), `${c.name}: ${show(r)}`).toBe(true);
        expect(r, c.name).toMatchObject({ kind: 'device_status', profile: fx.profile, ...c.status, time: ARRIVAL });
      } else {
        expect(Array.isArray(r), `${c.name}: ${show(r)}`).toBe(true);
        expect(r, c.name).toStrictEqual(expectedReadings(c.readings ?? []));
      }
    }
  });

  it('rejects each corrupt variant with the right reason', () => {
    let dd = make();
    for (const c of fx.corrupt) {
      if (c.fresh) dd = make();
      const r = dd.decode(message(c));
      if (c.reason === undefined) {
        // A setup step (e.g. a header line) between corrupt variants.
        expect(Array.isArray(r), `${c.name}: ${show(r)}`).toBe(true);
        continue;
      }
      expect(r, `${c.name}: ${show(r)}`).toMatchObject({ kind: 'decode_error', reason: c.reason });
      expect((r as { message: string }).message.length, c.name).toBeGreaterThan(0);
    }
  });
});

it('reasons beyond the core set are the documented ones', () => {
  const used = new Set(fixtures.flatMap((f) => f.corrupt.map((c) => c.reason)));
  for (const r of PROFILE_DECODE_REASONS) expect(used.has(r), r).toBe(true);
});
