import { describe, expect, it } from 'vitest';
import { SubscriptionSet } from '../../src/sources/mqtt-subscriptions.js';

const filters = [
  { topic: 'sensors/#', qos: 1 },
  { topic: 'meters/+/power', qos: 0 },
] as const;

describe('SubscriptionSet: when an MQTT source (re)subscribes', () => {
  it('subscribes on the first connection of a start, even into a session the broker kept', () => {
    const set = new SubscriptionSet(filters, 4);
    expect(set.request(true)).toEqual({ 'sensors/#': { qos: 1 }, 'meters/+/power': { qos: 0 } });
  });

  it('MQTT 5 asks the broker not to resend retained messages for a subscription the session has (rh 1)', () => {
    const set = new SubscriptionSet(filters, 5);
    expect(set.request(false)).toEqual({ 'sensors/#': { qos: 1, rh: 1 }, 'meters/+/power': { qos: 0, rh: 1 } });
  });

  it('sends nothing on a reconnect into a kept session, and subscribes again when the broker lost it', () => {
    const set = new SubscriptionSet(filters, 4);
    set.request(false);
    expect(set.answered(null, [])).toBeUndefined();
    expect(set.request(true)).toBeUndefined();
    expect(set.request(false)).toEqual({ 'sensors/#': { qos: 1 }, 'meters/+/power': { qos: 0 } });
  });

  it('a new start (reset) subscribes on its first connection whatever the session', () => {
    const set = new SubscriptionSet(filters, 4);
    set.answered(null, []);
    set.reset();
    expect(set.request(true)).toBeDefined();
  });

  it('an unanswered SUBSCRIBE does not count: the next connection subscribes again', () => {
    const set = new SubscriptionSet(filters, 4);
    expect(set.request(true)).toBeDefined();
    expect(set.request(true)).toBeDefined();
  });

  it('a source with no filters never subscribes', () => {
    expect(new SubscriptionSet([], 5).request(false)).toBeUndefined();
  });

  it('names what went wrong: a failed request, or the filters the broker refused (QoS 128)', () => {
    const set = new SubscriptionSet(filters, 4);
    expect(set.answered(new Error('connection closed'), undefined)).toBe('subscribe failed: connection closed');
    expect(
      set.answered(null, [
        { topic: 'sensors/#', qos: 128 },
        { topic: 'meters/+/power', qos: 0 },
      ]),
    ).toBe('subscription refused: sensors/#');
    expect(
      set.answered(null, [
        { topic: 'sensors/#', qos: 1 },
        { topic: 'meters/+/power', qos: 0 },
      ]),
    ).toBeUndefined();
    // Refused or not, the set counts as sent: a kept session is not asked again.
    expect(set.request(true)).toBeUndefined();
  });
});
