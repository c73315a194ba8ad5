/**
 * Bounded waits for promises that cannot take an AbortSignal (a LevelDB open, a server's
 * close callback, a queue draining). Where the callee takes a signal, pass it
 * `AbortSignal.timeout(ms)` instead. The timer comes from `timers` (default: the global
 * `setTimeout`, so that tests on vitest fake timers drive it) and is freed as soon as the
 * promise settles: nothing stays armed after the race.
 */
import { globalTimers, type Timers } from './timers.js';

/** `p`, or a rejection `<what> took longer than <ms> ms` when it has not settled by then. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string, timers: Timers = globalTimers): Promise<T> {
  let handle: unknown;
  const late = new Promise<never>((_, reject) => {
    handle = timers.setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    timers.clearTimeout(handle);
  }
}

/** Waits until `p` settles or `ms` pass, whichever is first; true when `p` settled (fulfilled or rejected). */
export async function settlesWithin(p: Promise<unknown>, ms: number, timers: Timers = globalTimers): Promise<boolean> {
  const settled = p.then(
    () => true,
    () => true,
  );
  return withTimeout(settled, ms, 'settling', timers).catch(() => false);
}
