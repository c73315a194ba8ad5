import { describe, expect, it } from 'vitest';
import { ClientIdOwners, clientIdMatches, ownershipKey, type OwnerStore } from '../../src/sources/broker/client-ids.js';

describe('client id ownership keys', () => {
  it('fold case (including ß and final sigma), NFKC forms and invisible characters into one key', () => {
    const k = ownershipKey('observer');
    for (const v of ['Observer', 'OBSERVER', 'obser\u200bver', '\u2060observer\ufeff', 'obser\u00adver', 'ｏｂｓｅｒｖｅｒ', 'observer\ufe0f'])
      expect(ownershipKey(v)).toBe(k);
    expect(ownershipKey('STRASSE')).toBe(ownershipKey('straße'));
    expect(ownershipKey('ΣΟΦΟΣ')).toBe(ownershipKey('σοφος'));
    expect(ownershipKey('observer2')).not.toBe(k);
  });
});

describe('client id patterns', () => {
  it('%u is the username, * anything; case and invisible characters do not matter', () => {
    expect(clientIdMatches('%u-*', 'alice-kitchen', 'alice')).toBe(true);
    expect(clientIdMatches('%u-*', 'ALICE-\u200bkitchen', 'alice')).toBe(true);
    expect(clientIdMatches('%u-*', 'alice-', 'alice')).toBe(true);
    expect(clientIdMatches('%u-*', 'alicex', 'alice')).toBe(false);
    expect(clientIdMatches('%u-*', 'bob-kitchen', 'alice')).toBe(false);
    expect(clientIdMatches('%u-*', 'alice-1', undefined)).toBe(false);
    // regex characters in a username are literal
    expect(clientIdMatches('%u-*', 'a.c-1', 'a.c')).toBe(true);
    expect(clientIdMatches('%u-*', 'abc-1', 'a.c')).toBe(false);
  });
});

describe('ClientIdOwners', () => {
  function memoryStore(): OwnerStore & { data: Map<string, string> } {
    const data = new Map<string, string>();
    return {
      data,
      load: async () => [...data],
      put: async (k, v) => void data.set(k, v),
      del: async (k) => void data.delete(k),
    };
  }
  const noError = () => {
    throw new Error('unexpected store error');
  };

  it('the first user owns an id; another is refused and told who owns it; the store keeps it', async () => {
    const store = memoryStore();
    const owners = new ClientIdOwners(store);
    expect(owners.claim('dev1', 'alice', noError)).toEqual({ ok: true });
    expect(owners.claim('DEV1', 'alice', noError)).toEqual({ ok: true });
    expect(owners.claim('Dev1', 'bob', noError)).toEqual({ ok: false, owner: 'alice' });
    expect(owners.claim('dev1', '', noError)).toEqual({ ok: false, owner: 'alice' });
    await Promise.resolve();
    const again = new ClientIdOwners(store);
    await again.load();
    expect(again.claim('dev1', 'bob', noError)).toEqual({ ok: false, owner: 'alice' });
  });

  it("keeps at most maxPerUser ids per user, forgetting that user's least recently used one", async () => {
    const store = memoryStore();
    const owners = new ClientIdOwners(store, 2);
    owners.claim('a1', 'alice', noError);
    owners.claim('a2', 'alice', noError);
    owners.claim('b1', 'bob', noError);
    owners.claim('a1', 'alice', noError); // a2 is now the least recently used
    owners.claim('a3', 'alice', noError);
    await Promise.resolve();
    expect(owners.ownerOf('a2')).toBeUndefined();
    expect([owners.ownerOf('a1'), owners.ownerOf('a3'), owners.ownerOf('b1')]).toEqual(['alice', 'alice', 'bob']);
    expect([...store.data.keys()].sort()).toEqual(['a1', 'a3', 'b1']);
  });
});
