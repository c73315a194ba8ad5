/**
 * What the embedded broker lets a client publish: `$SYS/...` is reserved, then the limits
 * (topic length, payload size, rate), the ACL, and the retained-message bounds. A refusal
 * is counted and logged through `refuse`; aedes then closes the client (MQTT 3.1.1 has no
 * negative PUBACK, and acking would make the sensor believe its reading was taken).
 */
import type { Client, PublishPacket } from 'aedes';
import type { BrokerGate, ClientIdentity, RefusalReason } from './security.js';
import type { PublishRate } from './publish-rate.js';
import type { RetainedLimits } from './retained-limits.js';
import type { BrokerLimits } from './settings.js';

export interface PublishPolicyParts {
  readonly limits: Pick<BrokerLimits, 'maxTopicLength' | 'maxPacketBytes'>;
  readonly rate: PublishRate;
  /** Users and ACLs; undefined: every client may publish anywhere but `$...`. */
  readonly gate: BrokerGate | undefined;
  /** The retained ledger of this run's persistence. */
  readonly retained: RetainedLimits;
  readonly identify: (client: Client) => ClientIdentity;
  /** Counts and logs a refusal. */
  readonly refuse: (reason: RefusalReason, details: Record<string, unknown>, message: string) => void;
  /** Saving the retained ledger failed. */
  readonly onStoreError: (err: unknown) => void;
}

export class PublishPolicy {
  constructor(private readonly p: PublishPolicyParts) {}

  /**
   * Why this publish is refused (counted and logged), or undefined when it may go on. A
   * retained publish that may go on has its share of the retained bounds taken now.
   * `client` is null for the will of a client that is gone: only `$SYS` is refused then.
   */
  refusal(client: Client | null, packet: PublishPacket): string | undefined {
    const topic = packet.topic;
    if (topic.startsWith('$SYS')) {
      if (client) {
        this.p.refuse(
          'publish_denied',
          this.who(client, topic),
          `broker: publish to reserved ${topic.slice(0, 200)} refused from client ${client.id}; disconnecting it`,
        );
      }
      return '$SYS topics are reserved';
    }
    return client === null ? undefined : this.limitRefusal(client, topic, packet.payload.length, packet.retain);
  }

  private limitRefusal(client: Client, topic: string, payloadBytes: number, retain: boolean): RefusalReason | undefined {
    const { limits, gate, retained } = this.p;
    let reason: RefusalReason | undefined;
    if (Buffer.byteLength(topic) > limits.maxTopicLength) reason = 'topic_too_long';
    else if (payloadBytes > limits.maxPacketBytes) reason = 'payload_too_large';
    else if (!this.p.rate.take(client)) reason = 'rate_exceeded';
    else if (gate && !gate.canPublish(client, topic)) reason = 'publish_denied';
    else if (retain) {
      // Reserved now: the share is taken before the retained message is stored.
      const owner = gate?.username(client) ?? '';
      const verdict = retained.check(owner, topic, payloadBytes);
      if (verdict === 'ok') retained.accept(owner, topic, payloadBytes, this.p.onStoreError);
      else reason = verdict;
    }
    if (reason === undefined) return undefined;
    this.p.refuse(reason, this.who(client, topic), `broker: publish refused (${reason}) from client ${client.id}; disconnecting it`);
    return reason;
  }

  private who(client: Client, topic: string): Record<string, unknown> {
    return { clientId: client.id, username: this.p.gate?.username(client), address: this.p.identify(client).address, topic: topic.slice(0, 200) };
  }
}
