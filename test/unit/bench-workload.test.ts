/**
 * The bench's payloads (bench/lib/workload.ts) must be what they claim: realistic values that
 * are not all cheap to format, timestamps that never collapse two readings of a device into
 * one point, and a counter where the verifier looks for it — decoded by edgeflux's own rules
 * into the measurement and field the verifier counts.
 */
import { describe, expect, it } from 'vitest';
import { edgefluxDecoding, endStep, nextStep, PAYLOADS, tsMs } from '../../bench/lib/workload.js';
import { parseConfigText } from '../../src/config/load.js';
import { RuleSet } from '../../src/devices/rules.js';
import { isDecodeError, type Reading } from '../../src/types.js';

const BASE_MS = 1_765_000_000_000;

async function rulesFor(kind: 'flat' | 'lp'): Promise<RuleSet> {
  const rules = JSON.stringify(edgefluxDecoding(kind, 'edgeflux').rules);
  const text = `mqtt: [{ id: bench, url: 'mqtt://127.0.0.1:1', subscriptions: [{ topic: 'bench/#', qos: 1 }] }]
rules: ${rules}
outputs: [{ id: influx, type: influxdb_v1, url: 'http://127.0.0.1:1', database: b }]
`;
  const loaded = await parseConfigText(text, 'bench-workload.test.ts', {});
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return new RuleSet(loaded.config.rules, loaded.config.limits);
}

function decodeOne(rules: RuleSet, topic: string, payload: string): Reading {
  const r = rules.decode({ sourceId: 'bench', topic, payload: Buffer.from(payload), receivedAt: 0n });
  if (isDecodeError(r)) throw new Error(`${topic}: ${r.message}`);
  expect(r).toHaveLength(1);
  return r[0]!;
}

describe('bench workload payloads', () => {
  it("flat readings decode through the README-style json rule into the verifier's measurement, device tag and integer seq, at their ms timestamp", async () => {
    const rules = await rulesFor('flat');
    for (const seq of [0, 5, 1234]) {
      const spec = PAYLOADS.flat;
      const r = decodeOne(rules, spec.topic('edgeflux', 'q1n3r10000', 'd042'), spec.payload(seq, 100, BASE_MS));
      expect(r.measurement).toBe(spec.measurement);
      expect(r.tags).toMatchObject({ device: 'd042', system: 'edgeflux' });
      expect(r.fields[spec.seqField]).toBe(BigInt(seq));
      expect(typeof r.fields.temperature).toBe('number');
      expect(typeof r.fields.motion).toBe('boolean');
      expect(r.time).toBe(BigInt(tsMs(seq, 100, BASE_MS)) * 1_000_000n);
    }
    // One message in 16 carries a string tag.
    const tagged = decodeOne(rules, PAYLOADS.flat.topic('edgeflux', 'r', 'd005'), PAYLOADS.flat.payload(5, 100, BASE_MS));
    expect(typeof tagged.fields.event).toBe('string');
  });

  it("line protocol decodes through the line_protocol rule with the topic's levels as tags", async () => {
    const rules = await rulesFor('lp');
    const spec = PAYLOADS.lp;
    const r = decodeOne(rules, spec.topic('edgeflux', 'q0n1r20000', 'd007'), spec.payload(77, 100, BASE_MS));
    expect(r.measurement).toBe(spec.measurement);
    expect(r.tags).toEqual({ system: 'edgeflux', device: 'd007', sensor: 'bme280' });
    expect(r.fields.seq).toBe(77n);
    expect(r.time).toBe(BigInt(BASE_MS) * 1_000_000n);
  });

  it('values have 1–3 decimals from realistic ranges, and few of them are cheap to format (halves or whole numbers)', () => {
    const temps: number[] = [];
    const batteries: string[] = [];
    for (let seq = 0; seq < 2000; seq++) {
      const o = JSON.parse(PAYLOADS.flat.payload(seq, 100, BASE_MS)) as { temperature: number; battery: number; humidity: number };
      temps.push(o.temperature);
      batteries.push(String(o.battery));
      expect(o.temperature).toBeGreaterThanOrEqual(15);
      expect(o.temperature).toBeLessThan(30);
      expect(o.humidity).toBeGreaterThanOrEqual(30);
      expect(o.humidity).toBeLessThan(70);
    }
    const cheap = temps.filter((t) => Number.isInteger(t * 2)).length;
    expect(cheap / temps.length).toBeLessThan(0.05);
    expect(temps.filter((t) => /\.\d\d$/.test(String(t))).length / temps.length).toBeGreaterThan(0.8);
    expect(batteries.some((b) => /\.\d{3}$/.test(b))).toBe(true);
  });

  it('no two readings of one device share a timestamp, whatever the device count', () => {
    for (const devices of [1, 100, 10_000]) {
      const seen = new Set<string>();
      for (let seq = 0; seq < 30_000; seq++) seen.add(`${seq % devices}/${tsMs(seq, devices, BASE_MS)}`);
      expect(seen.size).toBe(30_000);
    }
  });

  it('Tasmota and Zigbee2MQTT messages carry the counter where the verifier counts it; Zigbee2MQTT sends numbers as strings', () => {
    const t = JSON.parse(PAYLOADS.tasmota.payload(321, 100, BASE_MS)) as Record<string, Record<string, unknown>>;
    expect(t.COUNTER).toEqual({ C1: 321 });
    expect(Object.keys(t).filter((k) => typeof t[k] === 'object')).toEqual(['ENERGY', 'AM2301', 'COUNTER']);
    expect(PAYLOADS.tasmota.pointsPerMessage).toBe(3);
    const z = JSON.parse(PAYLOADS.z2m.payload(654, 100, BASE_MS)) as Record<string, unknown>;
    expect(z[PAYLOADS.z2m.seqField]).toBe(654);
    expect(typeof z.temperature).toBe('string');
    expect(Number.isFinite(Number(z.temperature))).toBe(true);
    expect(PAYLOADS.tasmota.topic('edgeflux', 'q1n2r10000', 'd001')).toBe('bench/edgeflux/tele/d001/SENSOR');
  });

  it("the devices are the same in every step, and each step starts after the previous one's last timestamp", () => {
    // A steady set of series: the step is not in the topic (only the legacy `point` payload has a run level).
    for (const kind of ['flat', 'tasmota', 'z2m', 'lp'] as const)
      expect(PAYLOADS[kind].topic('edgeflux', 'q1n1r10000', 'd001')).toBe(PAYLOADS[kind].topic('edgeflux', 'q1n2r20000', 'd001'));
    const a = nextStep('db_test', 'flat', 'a');
    // 5 s of 200k/s over 100 devices: 2,000 readings per device, timestamps up to 10 s ahead of the clock.
    endStep('db_test', 'flat', a, 1_000_000, 100);
    const b = nextStep('db_test', 'flat', 'b');
    expect(b.fromMs).toBeGreaterThan(tsMs(999_999, 100, a.base));
    expect(PAYLOADS.flat.where(b)).toBe(`time >= ${b.fromMs}000000`);
  });
});
