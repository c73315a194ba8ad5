import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/observe/counters.js';
import { SelfSource, decodeSelf, isSelfMessage } from '../../src/sources/self-source.js';
import { encodeLine } from '../../src/sink/line-protocol.js';
import type { RawMessage } from '../../src/types.js';
import { selfReadings } from '../helpers/edgeflux-schema.js';

describe('SelfSource', () => {
  it("turns edgeflux's own readings into one line-protocol message that decodes back to them", async () => {
    const src = new SelfSource({ encode: encodeLine, arrivalNs: () => 5n });
    const got: RawMessage[] = [];
    src.messages().subscribe((m) => got.push(m));
    await src.start();
    const readings = selfReadings(1_700_000_000_000_000_000n);
    src.emit(readings);
    expect(got).toHaveLength(1);
    expect(isSelfMessage(got[0]!)).toBe(true);
    expect(got[0]!.receivedAt).toBe(5n);
    expect(decodeSelf(got[0]!)).toEqual(readings);
    await src.stop();
  });

  it('drops and counts what comes outside start()…stop(), or piles up without a subscriber', async () => {
    const counters = new Counters();
    const src = new SelfSource({ counters, encode: encodeLine, arrivalNs: () => 1n });
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
