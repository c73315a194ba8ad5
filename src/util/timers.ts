/**
 * The timer functions that waiting code takes as a dependency. The default reads the
 * global `setTimeout` at each call, so vitest fake timers drive it; tests may also pass
 * their own.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
