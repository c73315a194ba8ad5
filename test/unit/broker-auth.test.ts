import { describe, expect, it } from 'vitest';
import type { Client } from 'aedes';
import { hashError, hashPassword, parsePasswordFile, setPasswordEntry, verifyPassword } from '../../src/util/passwords.js';
import { compileAcl } from '../../src/sources/broker/acl.js';
import { LoginThrottle } from '../../src/sources/broker/login-throttle.js';
import { PasswordChecks } from '../../src/sources/broker/password-checks.js';
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

  it('$ sequences in a username or client id are text, not replacement patterns', () => {
    expect(acl.canPublish('a$&b', 'c', 'sensors/a$&b/temp')).toBe(true);
    expect(acl.canPublish('$$', 'c', 'sensors/$$/temp')).toBe(true);
    expect(acl.canPublish('$$', 'c', 'sensors/$/temp')).toBe(false);
    expect(acl.canSubscribe('s1', "x$'", "commands/x$'/#")).toBe(true);
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
  const opts = {
    freeFailures: 2,
    freeFailuresPerAddress: 5,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    forgetMs: 60_000,
    maxAddresses: 2,
    maxUsersPerAddress: 4,
    maxInFlightPerAddress: 2,
  };

  it('delays failure answers of a pair after its free failures, doubling to a cap, and forgets it', () => {
    let now = 0;
    const t = new LoginThrottle(opts, () => now);
    const fail = (user = 'u') => {
      expect(t.admit('a', user)).toBe(true);
      const d = t.failed('a', user);
      t.answered('a', user);
      return d;
    };
    expect([fail(), fail(), fail(), fail()]).toEqual([0, 0, 100, 200]);
    now = 61_000;
    expect(fail()).toBe(0);
  });

  it("the address's failures over all usernames count too", () => {
    const t = new LoginThrottle(opts);
    const delays = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'].map((u) => {
      t.admit('a', u);
      return t.failed('a', u);
    });
    expect(delays).toEqual([0, 0, 0, 0, 0, 100, 200]);
  });

  it('a success clears only its own pair', () => {
    const t = new LoginThrottle(opts);
    for (let i = 0; i < 3; i++) {
      t.admit('a', 'victim');
      t.failed('a', 'victim');
      t.answered('a', 'victim');
    }
    t.admit('a', 'me');
    t.succeeded('a', 'me');
    t.admit('a', 'victim');
    expect(t.failed('a', 'victim')).toBe(200);
  });

  it('counts attempts in flight: past its free failures a pair has one in flight at a time', () => {
    const t = new LoginThrottle(opts);
    expect([t.admit('a', 'u'), t.admit('a', 'u'), t.admit('a', 'u')]).toEqual([true, true, false]);
    t.failed('a', 'u');
    t.answered('a', 'u');
    expect(t.admit('a', 'u')).toBe(false); // 1 failure + 1 in flight = the free ones used
    t.failed('a', 'u');
    t.answered('a', 'u');
    expect(t.admit('a', 'u')).toBe(true);
    expect(t.admit('a', 'u')).toBe(false);
  });

  it('remembers a bounded number of addresses', () => {
    const t = new LoginThrottle({ ...opts, freeFailures: 0 });
    for (const a of ['a', 'b', 'c']) {
      t.admit(a, 'u');
      t.failed(a, 'u');
      t.answered(a, 'u');
    }
    expect(t.suspicion('a', 'u')).toBe(0);
    expect(t.suspicion('c', 'u')).toBe(2);
  });
});

describe('PasswordChecks', () => {
  function deferred() {
    let resolve!: (v: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    return { promise, resolve };
  }

  it('runs at most `concurrency` checks, queues the least suspicious first, refuses beyond the queue', async () => {
    const checks = new PasswordChecks(1, 2);
    const gates = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    const run = (i: number, suspicion: number) => checks.run(suspicion, () => (started.push(i), gates[i]!.promise));
    const r0 = run(0, 0);
    const r1 = run(1, 5);
    const r2 = run(2, 5);
    const r3 = run(3, 9); // queue full, more suspicious than all waiting: refused
    const r4 = run(4, 1); // queue full, less suspicious than the worst waiting: takes its place
    expect(await r3).toEqual({ busy: true });
    expect(await r2).toEqual({ busy: true });
    expect([checks.active, checks.queued]).toEqual([1, 2]);
    gates[0]!.resolve(true);
    expect(await r0).toEqual({ busy: false, value: true });
    await Promise.resolve();
    expect(started).toEqual([0, 4]);
    gates[4]!.resolve(false);
    gates[1]!.resolve(false);
    expect(await r4).toEqual({ busy: false, value: false });
    expect(await r1).toEqual({ busy: false, value: false });
    expect(started).toEqual([0, 4, 1]);
  });
});

describe('PasswordChecks: the last slot', () => {
  it('is kept for clean checks: suspicious ones wait, a clean one starts at once', async () => {
    const checks = new PasswordChecks(2, 4);
    const pending: (() => void)[] = [];
    const started: string[] = [];
    const check = (name: string) => () =>
      new Promise<boolean>((resolve) => {
        started.push(name);
        pending.push(() => resolve(false));
      });
    void checks.run(5, check('s1'));
    void checks.run(5, check('s2'));
    expect(started).toEqual(['s1']);
    void checks.run(0, check('clean'), true);
    expect(started).toEqual(['s1', 'clean']);
    pending.shift()!(); // s1 done: the clean check holds one slot, the free one stays reserved
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['s1', 'clean']);
    pending.shift()!(); // clean done
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['s1', 'clean', 's2']);
  });
});

describe('BrokerGate', () => {
  const client = (id: string) => ({ id }) as unknown as Client;
  function gate(anonymous: 'never' | 'loopback' | 'always', address: string, users = new Map<string, string>()) {
    const counters = new Counters();
    const verified: string[] = [];
    const g = new BrokerGate({ users, anonymous, clientCertUsers: true }, () => ({ address }), silentLogger(), counters, {
      throttle: { freeFailures: 100 },
      verify: (pw, hash) => (verified.push(hash), verifyPassword(pw, hash)),
    });
    const auth = (username?: string, password?: string) =>
      new Promise<{ err: (Error & { returnCode: number }) | null; ok: boolean | null }>((resolve) =>
        g.authenticate(client('c'), username, password === undefined ? undefined : Buffer.from(password), (err, ok) => resolve({ err, ok })),
      );
    return { g, counters, auth, verified };
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

  it("an unknown user's password is checked too, against a hash of the same cost (no timing oracle)", async () => {
    const users = new Map([['alice', await hashPassword('pw', FAST)]]);
    const { auth, verified } = gate('never', '192.0.2.7', users);
    await auth('alice', 'nope');
    await auth('mallory', 'pw');
    expect(verified).toHaveLength(2);
    const params = (h: string) => h.split('$').slice(0, 4).join('$');
    expect(params(verified[1]!)).toBe(params(users.get('alice')!));
    expect(verified[1]).not.toBe(users.get('alice'));
  });
});
