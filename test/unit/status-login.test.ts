import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Sessions, loginRequired } from '../../src/observe/status-login.js';

describe('loginRequired', () => {
  it('auto: only beyond loopback; always: everywhere', () => {
    expect(loginRequired('127.0.0.1', 'auto')).toBe(false);
    expect(loginRequired('::1', 'auto')).toBe(false);
    expect(loginRequired('localhost', 'auto')).toBe(false);
    expect(loginRequired('0.0.0.0', 'auto')).toBe(true);
    expect(loginRequired('192.168.1.20', 'auto')).toBe(true);
    expect(loginRequired('::', 'auto')).toBe(true);
    expect(loginRequired('127.0.0.1', 'always')).toBe(true);
  });
});

describe('Sessions on virtual time', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const sessions = () => new Sessions({ verify: async (u, p) => u === 'ops' && p === 'pw', ttlMs: 60_000, maxSessions: 2 });
  const token = (setCookie: string) => setCookie.split(';')[0] as string;

  it('a right password gets an HttpOnly, SameSite=Strict cookie that is valid for ttl', async () => {
    const s = sessions();
    const c = await s.login('ops', 'pw');
    expect(c).toMatch(/^edgeflux_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=60$/);
    expect(s.user(`other=1; ${token(c!)}`)).toBe('ops');
    expect(s.user('edgeflux_session=forged')).toBeUndefined();
    vi.advanceTimersByTime(60_000);
    expect(s.user(token(c!))).toBeUndefined();
  });

  it('a wrong password is answered after a pause, failures one after another; logout ends a session; the oldest session goes first', async () => {
    const s = sessions();
    let a: string | undefined | null = null;
    let b: string | undefined | null = null;
    void s.login('ops', 'nope').then((r) => (a = r));
    void s.login('ops', 'nope').then((r) => (b = r));
    await vi.advanceTimersByTimeAsync(999);
    expect(a).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(a).toBeUndefined();
    expect(b).toBeNull(); // queued behind the first
    await vi.advanceTimersByTimeAsync(1000);
    expect(b).toBeUndefined();
    const [c1, c2, c3] = [await s.login('ops', 'pw'), await s.login('ops', 'pw'), await s.login('ops', 'pw')];
    expect(s.user(token(c1!))).toBeUndefined(); // at most 2
    expect(s.user(token(c2!))).toBe('ops');
    expect(s.logout(token(c3!))).toContain('Max-Age=0');
    expect(s.user(token(c3!))).toBeUndefined();
  });
});
