import { describe, expect, it } from 'vitest';
import type { Client } from 'aedes';
import { hashError, hashPassword, parsePasswordFile, setPasswordEntry, verifyPassword } from '../../src/sources/broker/passwords.js';
import { compileAcl } from '../../src/sources/broker/acl.js';
import { LoginThrottle } from '../../src/sources/broker/login-throttle.js';
import { BrokerGate } from '../../src/sources/broker/security.js';
import { Counters } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/logger.js';

const FAST = { logN: 10, r: 8, p: 1 };

describe('passwords', () => {
  it('hashes with a random salt and verifies in constant time', async () => {
    const a = await hashPassword('correct horse', FAST);
    const b = await hashPassword('correct horse', FAST);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$10\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
  });

  it('parses a password file, reporting every bad line with its number', async () => {
    const h = await hashPassword('pw', FAST);
    const { entries, errors } = parsePasswordFile(`# users\nalice:${h}\n\nbob\ncarol:md5$abc\nalice:${h}\n`);
    expect(entries.map((e) => [e.username, e.line])).toEqual([['alice', 2]]);
    expect(errors).toEqual([
      { line: 4, message: 'expected username:hash' },
      { line: 5, message: expect.stringContaining('user "carol": not an edgeflux password hash') },
      { line: 6, message: 'user "alice" appears twice' },
    ]);
    expect(hashError(h)).toBeUndefined();
  });

  it('sets or replaces one entry, keeping the rest', () => {
    const t1 = setPasswordEntry('', 'alice', 'scrypt$A');
    const t2 = setPasswordEntry(`# c\n${t1}`, 'bob', 'scrypt$B');
    expect(setPasswordEntry(t2, 'alice', 'scrypt$C')).toBe('# c\nalice:scrypt$C\nbob:scrypt$B\n');
    expect(() => setPasswordEntry('', 'a:b', 'h')).toThrow(/invalid username/);
  });
});

describe('ACL', () => {
  const acl = compileAcl([
    { user: '*', publish: ['sensors/%u/#'], subscribe: ['commands/%c/#'] },
    { user: 'admin', publish: ['#'], subscribe: ['#', '$SYS/#'] },
    { user: 'anonymous', publish: ['public/#'], subscribe: [] },
  ]);

  it('substitutes %u and %c', () => {
    expect(acl.canPublish('s1', 'c1', 'sensors/s1/temp')).toBe(true);
    expect(acl.canPublish('s1', 'c1', 'sensors/s1')).toBe(true);
    expect(acl.canPublish('s1', 'c1', 'sensors/s2/temp')).toBe(false);
    expect(acl.canSubscribe('s1', 'c1', 'commands/c1/#')).toBe(true);
    expect(acl.canSubscribe('s1', 'c1', 'commands/#')).toBe(false);
  });

  it('a username with wildcards or slashes cannot widen its own rule', () => {
    expect(acl.canPublish('+', 'c', 'sensors/x/t')).toBe(false);
    expect(acl.canPublish('#', 'c', 'sensors/x/t')).toBe(false);
    expect(acl.canPublish('a/b', 'c', 'sensors/a/b/t')).toBe(false);
  });

  it('no matching rule is a denial; $ topics are never publishable; $SYS only where granted', () => {
    expect(acl.canPublish(undefined, 'c', 'public/x')).toBe(true);
    expect(acl.canPublish(undefined, 'c', 'sensors/x/y')).toBe(false);
    expect(acl.canPublish('admin', 'c', '$SYS/broker/x')).toBe(false);
    expect(acl.canPublish('admin', 'c', 'anything/at/all')).toBe(true);
    expect(acl.canSubscribe('admin', 'c', '$SYS/#')).toBe(true);
    expect(acl.canSubscribe('s1', 'c1', '$SYS/#')).toBe(false);
    expect(acl.canSubscribe('admin', 'c', '$share/g/x/#')).toBe(true);
  });
});

describe('LoginThrottle', () => {
  it('delays an address after its free failures, doubling to a cap, and forgets it', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 1000, forgetMs: 60_000, maxAddresses: 2 }, () => now);
    expect(t.delayFor('a')).toBe(0);
    t.failed('a');
    t.failed('a');
    expect(t.delayFor('a')).toBe(100);
    t.failed('a');
    expect(t.delayFor('a')).toBe(200);
    for (let i = 0; i < 10; i++) t.failed('a');
    expect(t.delayFor('a')).toBe(1000);
    now = 61_000;
    expect(t.delayFor('a')).toBe(0);
  });

  it('remembers a bounded number of addresses, and a success clears one', () => {
    const t = new LoginThrottle({ freeFailures: 0, baseDelayMs: 10, maxDelayMs: 100, forgetMs: 60_000, maxAddresses: 2 });
    t.failed('a');
    t.failed('b');
    t.failed('c');
    expect(t.delayFor('a')).toBe(0);
    expect(t.delayFor('c')).toBe(20);
    t.succeeded('c');
    expect(t.delayFor('c')).toBe(0);
  });
});

describe('BrokerGate', () => {
  const client = (id: string) => ({ id }) as unknown as Client;
  function gate(anonymous: 'never' | 'loopback' | 'always', address: string, users = new Map<string, string>()) {
    const counters = new Counters();
    const g = new BrokerGate({ users, anonymous, clientCertUsers: true }, () => ({ address }), silentLogger(), counters,
      new LoginThrottle({ freeFailures: 100, baseDelayMs: 1, maxDelayMs: 1, forgetMs: 1, maxAddresses: 10 }));
    const auth = (username?: string, password?: string) =>
      new Promise<{ err: (Error & { returnCode: number }) | null; ok: boolean | null }>((resolve) =>
        g.authenticate(client('c'), username, password === undefined ? undefined : Buffer.from(password), (err, ok) => resolve({ err, ok })));
    return { g, counters, auth };
  }

  it('anonymous: by default only from loopback', async () => {
    expect((await gate('loopback', '127.0.0.1').auth()).ok).toBe(true);
    expect((await gate('loopback', '::ffff:127.0.0.1').auth()).ok).toBe(true);
    const remote = gate('loopback', '192.0.2.7');
    const r = await remote.auth();
    expect(r.ok).toBe(false);
    expect(r.err?.returnCode).toBe(5);
    expect(remote.counters.get('broker_refused', { reason: 'anonymous' })).toBe(1);
    expect((await gate('never', '127.0.0.1').auth()).ok).toBe(false);
    expect((await gate('always', '192.0.2.7').auth()).ok).toBe(true);
  });

  it('users: right password in, wrong password and unknown user out with code 4, counted apart', async () => {
    const users = new Map([['alice', await hashPassword('pw', FAST)]]);
    const { auth, counters } = gate('never', '192.0.2.7', users);
    expect((await auth('alice', 'pw')).ok).toBe(true);
    const wrong = await auth('alice', 'nope');
    expect([wrong.ok, wrong.err?.returnCode]).toEqual([false, 4]);
    const unknown = await auth('mallory', 'pw');
    expect([unknown.ok, unknown.err?.returnCode]).toEqual([false, 4]);
    expect(counters.get('broker_refused', { reason: 'bad_password' })).toBe(1);
    expect(counters.get('broker_refused', { reason: 'unknown_user' })).toBe(1);
  });
});
