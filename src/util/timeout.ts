/**
 * Bounded waits for promises that cannot take an AbortSignal (a LevelDB open, a server's
 * close callback, a queue draining). Where the callee takes a signal, pass it
 * `AbortSignal.timeout(ms)` instead. The timer is the global `setTimeout`, so that tests
 * on vitest fake timers drive it, and it is freed as soon as the promise settles.
 */

/** `p`, or a rejection `<what> took longer than <ms> ms` when it has not settled by then. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `p` settles or `ms` pass, whichever is first; true when `p` settled (fulfilled or rejected). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
