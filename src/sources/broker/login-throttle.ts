/**
 * Slows down repeated failed logins from one address: after `freeFailures` failures the
 * answer to each further attempt is delayed, doubling up to `maxDelayMs`; a success or
 * `forgetMs` without failures resets the address. Bounded: at most `maxAddresses`
 * addresses are remembered (the oldest entry is forgotten first).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly opts: { freeFailures: number; baseDelayMs: number; maxDelayMs: number; forgetMs: number; maxAddresses: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** How long to hold the answer to a login attempt from `address`. */
  delayFor(address: string): number {
    const e = this.failures.get(address);
    if (!e) return 0;
    if (this.now() - e.last > this.opts.forgetMs) {
      this.failures.delete(address);
      return 0;
    }
    const over = e.count - this.opts.freeFailures;
    if (over < 0) return 0;
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(over, 30));
  }

  failed(address: string): number {
    const e = this.failures.get(address);
    if (e) {
      this.failures.delete(address);
      e.count++;
      e.last = this.now();
      this.failures.set(address, e);
      return e.count;
    }
    if (this.failures.size >= this.opts.maxAddresses) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(address, { count: 1, last: this.now() });
    return 1;
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
