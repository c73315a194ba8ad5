/**
 * The per-client publish rate of the embedded broker: a token bucket per client,
 * `ratePerSecond` tokens a second, a burst of one second's worth. 0 = no limit.
 */
import type { Client } from 'aedes';
import type { Clock } from '../../clock.js';

export class PublishRate {
  private readonly buckets = new WeakMap<Client, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {}

  /** Takes one token for a publish of `client`; false when its bucket is empty. */
  take(client: Client): boolean {
    const rate = this.ratePerSecond;
    if (rate <= 0) return true;
    const now = this.clock.nowMs();
    let b = this.buckets.get(client);
    if (!b) {
      b = { tokens: rate, at: now };
      this.buckets.set(client, b);
    }
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
