/** Assigns an own property, also for the key `__proto__` (which `o[k] = v` would not create: it would set the prototype). */
export function setProp<T>(o: Record<string, T>, k: string, v: T): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
