/**
 * Slows down password guessing without slowing the sensors that know their password.
 *
 * Only a FAILURE answer is ever delayed: a correct login is answered as soon as its
 * password is checked, whatever happened before from its address. The delay is keyed on
 * (address, username): after `freeFailures` failures of that pair each further failure
 * answer waits `baseDelayMs`, doubling up to `maxDelayMs`. Cycling usernames from one
 * address does not escape it: the address's failures over all usernames delay too, after
 * `freeFailuresPerAddress`. A success clears only its own (address, username) counter.
 * Entries are forgotten `forgetMs` after their last failure.
 *
 * Attempts are counted while in flight, from `admit` until their answer is sent (a held
 * failure answer included), so that guesses sent in parallel do not escape the delay: a
 * pair that has used its free failures gets one attempt in flight at a time, an address
 * over its allowance `maxInFlightPerAddress`; `admit` refuses the others before any
 * password is checked (the broker answers those "server unavailable").
 *
 * Bounded: at most `maxAddresses` addresses and `maxUsersPerAddress` usernames per address
 * are remembered (the oldest forgotten first).
 */
export interface LoginThrottleOptions {
  readonly freeFailures: number;
  readonly freeFailuresPerAddress: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly forgetMs: number;
  readonly maxAddresses: number;
  readonly maxUsersPerAddress: number;
  readonly maxInFlightPerAddress: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  freeFailures: 3,
  freeFailuresPerAddress: 20,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  forgetMs: 15 * 60_000,
  maxAddresses: 10_000,
  maxUsersPerAddress: 64,
  maxInFlightPerAddress: 4,
};

interface Tally {
  failures: number;
  inFlight: number;
  last: number;
}

interface AddressEntry extends Tally {
  readonly users: Map<string, Tally>;
}

export class LoginThrottle {
  private readonly addresses = new Map<string, AddressEntry>();
  private readonly opts: LoginThrottleOptions;

  constructor(
    opts: Partial<LoginThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...DEFAULT_LOGIN_THROTTLE, ...opts };
  }

  /**
   * May an attempt for (address, username) be checked now? When yes it is counted in flight
   * until `answered` (or `succeeded`). No when the pair has used its free failures and still
   * has an attempt in flight, or the address has and already has `maxInFlightPerAddress`.
   */
  admit(address: string, username: string): boolean {
    const { entry, user } = this.entries(address, username);
    const o = this.opts;
    if (user.inFlight > 0 && user.failures + user.inFlight >= o.freeFailures) return false;
    if (entry.inFlight >= o.maxInFlightPerAddress && entry.failures + entry.inFlight >= o.freeFailuresPerAddress) return false;
    entry.inFlight++;
    user.inFlight++;
    return true;
  }

  /**
   * The attempt failed: counts it and returns how long to hold its answer (it stays in
   * flight until `answered`). Beyond the free failures of the pair or of the address: the
   * base delay, doubling per failure, at most the maximum.
   */
  failed(address: string, username: string): number {
    const { entry, user } = this.entries(address, username);
    entry.failures++;
    user.failures++;
    entry.last = user.last = this.now();
    const o = this.opts;
    const over = Math.max(user.failures - o.freeFailures, entry.failures - o.freeFailuresPerAddress);
    if (over <= 0) return 0;
    return Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.min(over - 1, 30));
  }

  /** The attempt's answer was sent (or it was refused as busy, or its check broke): no longer in flight. */
  answered(address: string, username: string): void {
    const entry = this.addresses.get(address);
    const user = entry?.users.get(username);
    if (!entry || !user) return;
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    user.inFlight = Math.max(0, user.inFlight - 1);
  }

  /** The attempt succeeded: clears (address, username) only. */
  succeeded(address: string, username: string): void {
    const entry = this.addresses.get(address);
    if (!entry) return;
    const user = entry.users.get(username);
    if (!user) return;
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    entry.failures = Math.max(0, entry.failures - user.failures);
    entry.users.delete(username);
    if (entry.users.size === 0 && entry.inFlight === 0) this.addresses.delete(address);
  }

  /** Failures plus attempts in flight of the pair and of its address: lower is served first. */
  suspicion(address: string, username: string): number {
    const entry = this.fresh(address);
    if (!entry) return 0;
    const user = entry.users.get(username);
    return entry.failures + entry.inFlight + (user ? user.failures + user.inFlight : 0);
  }

  /** Whether (address, username) has no failures on record (its own attempt aside). */
  isClean(address: string, username: string): boolean {
    const user = this.fresh(address)?.users.get(username);
    return user === undefined || user.failures === 0;
  }

  private fresh(address: string): AddressEntry | undefined {
    const entry = this.addresses.get(address);
    if (entry && entry.inFlight === 0 && this.now() - entry.last > this.opts.forgetMs) {
      this.addresses.delete(address);
      return undefined;
    }
    return entry;
  }

  private entries(address: string, username: string): { entry: AddressEntry; user: Tally } {
    let entry = this.fresh(address);
    if (entry) {
      // most recently used last
      this.addresses.delete(address);
      this.addresses.set(address, entry);
    } else {
      if (this.addresses.size >= this.opts.maxAddresses) this.forgetOldest(this.addresses);
      entry = { failures: 0, inFlight: 0, last: this.now(), users: new Map() };
      this.addresses.set(address, entry);
    }
    let user = entry.users.get(username);
    if (user && user.inFlight === 0 && this.now() - user.last > this.opts.forgetMs) {
      entry.failures = Math.max(0, entry.failures - user.failures);
      entry.users.delete(username);
      user = undefined;
    }
    if (!user) {
      if (entry.users.size >= this.opts.maxUsersPerAddress) this.forgetOldest(entry.users);
      user = { failures: 0, inFlight: 0, last: this.now() };
      entry.users.set(username, user);
    }
    return { entry, user };
  }

  private forgetOldest<V>(map: Map<string, V>): void {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
