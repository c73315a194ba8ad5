/**
 * Login for the status page when it is reachable beyond loopback. The daemon hands in how
 * a password is checked (scrypt hashes from `edgeflux passwd`, the broker's users or
 * `service.http.users_file`); this module keeps the sessions: a random 256-bit token in a
 * cookie that is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site
 * sends it), valid for `ttlMs`, at most `maxSessions` (the oldest ends first).
 * A failed login is answered after a pause, one at a time, so that guessing is slow.
 */
import { randomBytes } from 'node:crypto';
import { Sleeper } from '../util/sleeper.js';

export interface LoginOptions {
  /** Checks a username and password; undefined when no user is configured (login impossible). */
  readonly verify?: (username: string, password: string) => Promise<boolean>;
  /** Why there are no users, for the refusal. */
  readonly why?: string;
  /** Default 12 h. */
  readonly ttlMs?: number;
  /** Default 64. */
  readonly maxSessions?: number;
  /** Pause before answering a failed login. Default 1 s. */
  readonly failurePauseMs?: number;
  readonly now?: () => number;
}

export const SESSION_COOKIE = 'edgeflux_session';

export class Sessions {
  private readonly sessions = new Map<string, { user: string; expires: number }>();
  private readonly now: () => number;
  private failing: Promise<void> = Promise.resolve();
  private readonly pauses = new Sleeper();

  constructor(readonly opts: LoginOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The user of the request's session cookie, if it is valid. */
  user(cookieHeader: string | undefined): string | undefined {
    const token = cookieValue(cookieHeader, SESSION_COOKIE);
    if (token === undefined) return undefined;
    const s = this.sessions.get(token);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(token);
      return undefined;
    }
    return s.user;
  }

  /** Checks the credentials; a `Set-Cookie` value on success, undefined (after a pause) otherwise. */
  async login(username: string, password: string): Promise<string | undefined> {
    const ok = this.opts.verify !== undefined && username !== '' && (await this.opts.verify(username, password));
    if (!ok) {
      // Failures queue behind each other: a guesser gets one answer per pause.
      const pause = this.failing.then(() => this.pauses.sleep(this.opts.failurePauseMs ?? 1000));
      this.failing = pause;
      await pause;
      return undefined;
    }
    if (this.sessions.size >= (this.opts.maxSessions ?? 64)) this.sessions.delete(this.sessions.keys().next().value as string);
    const token = randomBytes(32).toString('hex');
    const ttl = this.opts.ttlMs ?? 12 * 3_600_000;
    this.sessions.set(token, { user: username, expires: this.now() + ttl });
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttl / 1000)}`;
  }

  /** Ends the request's session; the `Set-Cookie` value that clears it. */
  logout(cookieHeader: string | undefined): string {
    const token = cookieValue(cookieHeader, SESSION_COOKIE);
    if (token !== undefined) this.sessions.delete(token);
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Whether the page needs a login: `always`, or `auto` on an address beyond loopback. */
export function loginRequired(host: string, mode: 'auto' | 'always'): boolean {
  return mode === 'always' || !/^(127\.|::1$|localhost$)/.test(host);
}
