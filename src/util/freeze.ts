/** Deep-freezes plain data (objects, arrays), dropping keys whose value is undefined. */
export function deepFreeze<T>(v: T): T {
  if (Array.isArray(v)) return Object.freeze(v.map(deepFreeze)) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = deepFreeze(x);
    return Object.freeze(out) as T;
  }
  return v;
}
