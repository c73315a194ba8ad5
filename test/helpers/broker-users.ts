import { afterEach, beforeAll } from 'vitest';
import { hashPassword } from '../../src/util/passwords.js';

/** scrypt at a low cost: the same code path as the default, fast enough for many logins in a test. */
export const FAST_SCRYPT = { logN: 10, r: 8, p: 1 };

/** Broker users (name → password), hashed once before the file's tests. */
export function hashedUsers(passwords: Record<string, string>): Map<string, string> {
  const users = new Map<string, string>();
  beforeAll(async () => {
    for (const [name, password] of Object.entries(passwords)) users.set(name, await hashPassword(password, FAST_SCRYPT));
  });
  return users;
}

/** A list of cleanups that runs after each test, the last one added first. */
export function cleanupsAfterEach(): (() => Promise<unknown>)[] {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}
