import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Counters } from '../../src/observe/counters.js';
import { SelfSource, decodeSelf, isSelfMessage } from '../../src/sources/self-source.js';
import { decodeSelfReadings, encodeSelfReadings } from '../../src/sources/self-codec.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import { isDecodeError, type RawMessage, type Reading } from '../../src/types.js';
import { selfReadings } from '../helpers/edgeflux-schema.js';

async function emitted(readings: readonly Reading[]): Promise<RawMessage[]> {
  const src = new SelfSource({ arrivalNs: () => 5n });
  const got: RawMessage[] = [];
  src.messages().subscribe((m) => got.push(m));
  await src.start();
  src.emit(readings);
  await src.stop();
  return got;
}

const name = fc.string({ minLength: 1, maxLength: 12 });
const reading: fc.Arbitrary<Reading> = fc.record({
  measurement: name,
  tags: fc.dictionary(name, name, { maxKeys: 4 }),
  fields: fc.dictionary(
    name,
    fc.oneof(fc.double({ noNaN: true }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.boolean(), fc.string({ maxLength: 20 })),
    { minKeys: 1, maxKeys: 5 },
  ),
  time: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
});

describe('SelfSource', () => {
  it("turns edgeflux's own readings into one message, not line protocol, that decodes back to them", async () => {
    const readings = selfReadings(1_700_000_000_000_000_000n);
    const got = await emitted(readings);
    expect(got).toHaveLength(1);
    expect(isSelfMessage(got[0]!)).toBe(true);
    expect(got[0]!.receivedAt).toBe(5n);
    expect(got[0]!.unsynced).toBe(true);
    expect(decodeSelf(got[0]!)).toEqual(readings);
    // Typed, and smaller: the repeated names and the time once per message.
    const lineProtocol = readings.map((r) => encodeLine(r)).join('\n');
    expect(got[0]!.payload.toString('utf8')).not.toContain(readings[0]!.measurement + ',');
    expect(got[0]!.payload.length).toBeLessThan(lineProtocol.length * 0.8);
  });

  it('any readings come back exactly: every float bit, int64 at both ends, booleans, strings, tags, times', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(reading, { minLength: 1, maxLength: 6 }), async (readings) => {
        const got = await emitted(readings);
        expect(got).toHaveLength(1);
        const back = decodeSelf(got[0]!);
        expect(back).toEqual(readings);
        for (const [i, r] of readings.entries())
          for (const [k, v] of Object.entries(r.fields)) if (typeof v === 'number') expect(Object.is((back as Reading[])[i]!.fields[k], v)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a tag or field named __proto__ comes back as its own key (a counterexample fast-check found)', async () => {
    const tags: Record<string, string> = {};
    const fields: Record<string, boolean | string> = {};
    Object.defineProperty(tags, '__proto__', { value: ' ', enumerable: true, writable: true, configurable: true });
    Object.defineProperty(fields, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true });
    fields[' '] = false;
    const readings: Reading[] = [{ measurement: ' ', tags, fields, time: 0n }];
    const back = decodeSelf((await emitted(readings))[0]!) as Reading[];
    expect(Object.keys(back[0]!.tags)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(back[0]!.tags, '__proto__')?.value).toBe(' ');
    expect(Object.getOwnPropertyDescriptor(back[0]!.fields, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(back[0]!.tags)).toBe(Object.prototype);
  });

  it('readings without a field are left out; none left: no message', async () => {
    const point = selfReadings()[0]!;
    const got = await emitted([{ ...point, fields: {} }, point]);
    expect(decodeSelf(got[0]!)).toEqual([point]);
    expect(await emitted([{ ...point, fields: {} }])).toHaveLength(0);
  });

  it('reads the line protocol that an earlier version journaled for them', () => {
    const readings = selfReadings();
    const payload = Buffer.from(readings.map((r) => encodeLine(r)).join('\n'), 'utf8');
    expect(decodeSelf({ sourceId: 'edgeflux', topic: '$edgeflux/self', payload, receivedAt: 1n })).toEqual(readings);
  });

  it('a damaged payload is a decode error naming the byte, never an exception', () => {
    const payload = encodeSelfReadings(selfReadings());
    for (const cut of [2, 3, 10, payload.length - 1]) {
      const r = decodeSelfReadings(payload.subarray(0, cut));
      expect(isDecodeError(r), `cut at ${cut}`).toBe(true);
      if (isDecodeError(r)) expect(r.message).toMatch(/edgeflux's own readings: .* at byte \d+/);
    }
    const extra = decodeSelfReadings(Buffer.concat([payload, Buffer.from([0])]));
    expect(isDecodeError(extra) && extra.message).toMatch(/trailing bytes/);
  });

  it('drops and counts what comes outside start()…stop(), or piles up without a subscriber', async () => {
    const counters = new Counters();
    const src = new SelfSource({ counters, arrivalNs: () => 1n });
    const one = selfReadings().slice(0, 1);
    src.emit(one); // not started
    await src.start();
    for (let i = 0; i < 150; i++) src.emit(one); // nobody subscribed: 100 held, 50 dropped
    expect(counters.get('readings_dropped', { reason: 'self_not_running' })).toBe(51);
    const got: RawMessage[] = [];
    src.messages().subscribe((m) => got.push(m));
    expect(got).toHaveLength(100);
    await src.stop();
  });
});
