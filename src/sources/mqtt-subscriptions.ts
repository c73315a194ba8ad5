import type { ISubscriptionGrant, ISubscriptionMap } from 'mqtt';

/** One subscription filter of a source, with its QoS. */
export interface MqttSubscription {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
}

/**
 * The subscriptions of one MQTT source and when they are sent: on the first connection of
 * each `start()`, and on any later connection whose CONNACK says sessionPresent=false (the
 * broker kept no session, so it forgot them). A reconnect into a kept session sends none:
 * the broker still has them, and resending would make an MQTT 3.1.1 broker resend every
 * retained message.
 */
export class SubscriptionSet {
  private subscribedOnce = false;

  constructor(
    readonly filters: readonly MqttSubscription[],
    private readonly protocolVersion: 4 | 5,
  ) {}

  /** A new `start()`: its first connection subscribes, whatever the broker says about the session. */
  reset(): void {
    this.subscribedOnce = false;
  }

  /** The SUBSCRIBE a connection with this CONNACK needs, or undefined when it needs none. */
  request(sessionPresent: boolean): ISubscriptionMap | undefined {
    if (this.filters.length === 0 || (this.subscribedOnce && sessionPresent)) return undefined;
    const map: ISubscriptionMap = {};
    // rh 1: a subscription the session already has does not resend retained messages (MQTT 5).
    for (const s of this.filters) map[s.topic] = this.protocolVersion === 5 ? { qos: s.qos, rh: 1 } : { qos: s.qos };
    return map;
  }

  /**
   * Notes the broker's answer to the SUBSCRIBE (the set counts as sent either way: a refusal
   * is not retried until the broker loses the session) and says what went wrong, if anything:
   * the request failed, or some filters were refused (granted QoS 128).
   */
  answered(err: Error | null | undefined, granted: readonly ISubscriptionGrant[] | undefined): string | undefined {
    this.subscribedOnce = true;
    if (err) return `subscribe failed: ${err.message}`;
    const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
    return refused.length ? `subscription refused: ${refused.join(', ')}` : undefined;
  }
}
