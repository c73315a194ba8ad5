import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes for the embedded broker's users: scrypt (node:crypto) with a random
 * salt, stored as `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`. The cost is chosen so
 * that one check takes tens of ms on a Raspberry Pi: slow for a guesser, fine per login.
 */

const DEFAULT = { logN: 14, r: 8, p: 1 };
const KEY_LEN = 32;

function scryptAsync(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, cost = DEFAULT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, { N: 2 ** cost.logN, r: cost.r, p: cost.p, maxmem: 256 * 1024 * 1024 });
  return `scrypt$${cost.logN}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Why an encoded hash is unusable, or undefined when it is well-formed. */
export function hashError(encoded: string): string | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'not an edgeflux password hash (create one with `edgeflux passwd USER`)';
  const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!(logN >= 10 && logN <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return 'scrypt parameters out of range';
  if (Buffer.from(parts[5]!, 'base64').length !== KEY_LEN || Buffer.from(parts[4]!, 'base64').length < 8) return 'malformed salt or hash';
  return undefined;
}

/** Constant-time check of `password` against an encoded hash; false for a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (hashError(encoded) !== undefined) return false;
  const [, logN, r, p, salt, hash] = encoded.split('$') as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64'), { N: 2 ** Number(logN), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

const DUMMY_SALT = Buffer.from('edgeflux:no-such-user').toString('base64');

/**
 * A hash that no password matches, with the cost parameters of `like` (a real user's hash;
 * the default cost without one): checking a password against it costs what checking a
 * real user's costs, so a refusal does not tell whether the user exists.
 */
export function dummyHashLike(like: string | undefined): string {
  const params = like !== undefined && hashError(like) === undefined ? like.split('$').slice(1, 4) : [DEFAULT.logN, DEFAULT.r, DEFAULT.p].map(String);
  return `scrypt$${params.join('$')}$${DUMMY_SALT}$${Buffer.alloc(KEY_LEN).toString('base64')}`;
}

export interface PasswordEntry {
  readonly username: string;
  readonly hash: string;
  readonly line: number;
}

/**
 * Parses a password file: `username:hash` per line, `#` comments and blank lines
 * ignored. Every problem is reported with its line; a bad line is skipped.
 */
export function parsePasswordFile(text: string): { entries: PasswordEntry[]; errors: { line: number; message: string }[] } {
  const entries: PasswordEntry[] = [];
  const errors: { line: number; message: string }[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) return errors.push({ line: i + 1, message: 'expected username:hash' });
    const username = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const bad = hashError(hash);
    if (bad) return errors.push({ line: i + 1, message: `user "${username}": ${bad}` });
    if (seen.has(username)) return errors.push({ line: i + 1, message: `user "${username}" appears twice` });
    seen.add(username);
    entries.push({ username, hash, line: i + 1 });
  });
  return { entries, errors };
}

/** The file text with `username`'s entry set to `hash` (added at the end when new). */
export function setPasswordEntry(text: string, username: string, hash: string): string {
  if (username === '' || username.includes(':') || /\s/.test(username)) throw new Error(`invalid username "${username}": no ":" or white space`);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(`${username}:`));
  const entry = `${username}:${hash}`;
  if (i >= 0) lines[i] = entry;
  else lines.push(entry);
  return `${lines.join('\n')}\n`;
}
