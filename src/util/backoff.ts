/**
 * The one retry policy of edgeflux (output writes, source reconnects, supervised source
 * restarts): capped exponential backoff with "equal jitter", honouring a server's
 * Retry-After hint.
 *
 * Retry n (0-based) has the ceiling c = min(maxMs, initialMs · 2^n) and waits a random time
 * in [c/2, c]. Half the wait is fixed, so a failing peer is never retried at once (full
 * jitter, uniform in [0, c], may draw a wait of ~0 ms); the random half spreads clients
 * that failed together (edge hosts after one uplink outage, sources after a broker
 * restart) apart. A Retry-After hint is a floor: the wait is at least the hint (the server
 * asked for it), capped by `retryAfterCapMs` so a silly header cannot stall an output for
 * hours.
 */
export interface BackoffOptions {
  /** Ceiling of the first delay, ms. */
  readonly initialMs: number;
  /** Ceiling of every delay, ms. */
  readonly maxMs: number;
  /** Longest wait a Retry-After hint may impose, ms; default max(maxMs, 10 min). */
  readonly retryAfterCapMs?: number;
  /** Uniform random in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

/** The delay before retry number `attempt` (0 = first retry), in whole ms. */
export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  const random = opts.random ?? Math.random;
  const initial = Math.max(0, opts.initialMs);
  const max = Math.max(initial, opts.maxMs);
  // 2^attempt overflows to Infinity for large attempts; min() keeps it capped.
  const ceiling = Math.min(max, initial * 2 ** Math.max(0, Math.min(attempt, 1024)));
  const r = Math.min(Math.max(random(), 0), 1);
  let delay = ceiling / 2 + r * (ceiling / 2);
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
    const cap = opts.retryAfterCapMs ?? Math.max(max, 600_000);
    delay = Math.max(delay, Math.min(retryAfterMs, cap));
  }
  return Math.round(delay);
}

/** Counts attempts for one operation; `reset()` after a success. */
export class Backoff {
  private n = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.n;
  }

  /** The delay before the next retry; advances the attempt count. */
  next(retryAfterMs?: number): number {
    return backoffDelay(this.n++, this.opts, retryAfterMs);
  }

  reset(): void {
    this.n = 0;
  }
}
