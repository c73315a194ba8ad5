import { describe, expect, it } from 'vitest';
import type { Client, PublishPacket } from 'aedes';
import { PublishPolicy } from '../../src/sources/broker/publish-policy.js';
import { PublishRate } from '../../src/sources/broker/publish-rate.js';
import { DEFAULT_RETAINED_BOUNDS, RetainedLimits } from '../../src/sources/broker/retained-limits.js';
import { systemClock } from '../../src/clock.js';

// The policy alone; the broker's refusals end to end are in test/integration/broker-security
// and broker-retained.

/** The only part of an aedes client the policy reads without a gate: its id (and identity, as a key). */
const client = { id: 'dev-1' } as unknown as Client;

function policy(limits = { maxTopicLength: 20, maxPacketBytes: 8 }, ratePerSecond = 0, nowMs = () => 0) {
  const refused: { reason: string; details: Record<string, unknown> }[] = [];
  const retained = new RetainedLimits({ ...DEFAULT_RETAINED_BOUNDS, maxPerUser: 1 });
  const p = new PublishPolicy({
    limits,
    rate: new PublishRate(ratePerSecond, systemClock(nowMs)),
    gate: undefined,
    retained,
    identify: () => ({ address: '127.0.0.1' }),
    refuse: (reason, details) => void refused.push({ reason, details }),
    onStoreError: (err) => {
      throw err;
    },
  });
  return { p, refused, retained };
}

function packet(topic: string, payload = 'x', retain = false): PublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, dup: false, retain };
}

describe('PublishPolicy', () => {
  it("$SYS is reserved: refused and counted for a client; a gone client's will to $SYS is refused uncounted", () => {
    const { p, refused } = policy();
    expect(p.refusal(client, packet('$SYS/x'))).toBe('$SYS topics are reserved');
    expect(refused).toEqual([{ reason: 'publish_denied', details: { clientId: 'dev-1', username: undefined, address: '127.0.0.1', topic: '$SYS/x' } }]);
    expect(p.refusal(null, packet('$SYS/x'))).toBe('$SYS topics are reserved');
    expect(refused).toHaveLength(1);
  });

  it("the limits, in order: topic length (UTF-8 bytes), payload size; a gone client's will passes them", () => {
    const { p, refused } = policy();
    expect(p.refusal(client, packet('ü'.repeat(11)))).toBe('topic_too_long'); // 11 characters, 22 bytes
    expect(p.refusal(client, packet('ü'.repeat(11), 'x'.repeat(9)))).toBe('topic_too_long');
    expect(p.refusal(client, packet('t', 'x'.repeat(9)))).toBe('payload_too_large');
    expect(p.refusal(null, packet('t', 'x'.repeat(9)))).toBeUndefined();
    expect(p.refusal(client, packet('t', 'x'.repeat(8)))).toBeUndefined();
    expect(refused.map((r) => r.reason)).toEqual(['topic_too_long', 'topic_too_long', 'payload_too_large']);
  });

  it('the rate: a burst of one second, then refused until a token is back', () => {
    let now = 0;
    const { p } = policy(undefined, 2, () => now);
    expect([1, 2, 3].map(() => p.refusal(client, packet('t')))).toEqual([undefined, undefined, 'rate_exceeded']);
    now = 500;
    expect(p.refusal(client, packet('t'))).toBeUndefined();
  });

  it("a retained publish takes its share when it may go on; beyond the user's bound it is refused", () => {
    const { p, retained } = policy();
    expect(p.refusal(client, packet('home/a', 'on', true))).toBeUndefined();
    expect(retained.usage('')).toEqual({ count: 1, bytes: Buffer.byteLength('home/a') + 2 });
    expect(p.refusal(client, packet('home/b', 'on', true))).toBe('retained_limit');
    expect(p.refusal(client, packet('home/b', 'on'))).toBeUndefined(); // not retained: no share
  });
});
