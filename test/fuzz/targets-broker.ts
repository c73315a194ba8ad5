/**
 * Fuzz targets for the embedded broker's session and retained-message bookkeeping (issue
 * 21): client id ownership keys and claims against a plain reference model, client id
 * patterns, the retained-message ledger against a recomputed one, and the login throttle
 * under random sequences of attempts. Every target: no exception escapes, the invariants
 * hold after every step.
 */
import fc from 'fast-check';
import { ClientIdOwners, clientIdMatches, ownershipKey } from '../../src/sources/broker/client-ids.js';
import { RetainedLimits, type RetainedBounds } from '../../src/sources/broker/retained-limits.js';
import { LoginThrottle } from '../../src/sources/broker/login-throttle.js';
import { nastyText, show } from './arbitraries.js';
import { fcParams, noThrow, Stats, type FuzzTarget, type RunOptions } from './check.js';

/** Characters that must not make two ids different for ownership. */
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\ufe0f', '\u034f', '\u180e', '\u{e0041}'];
const idBase = fc.oneof(fc.constantFrom('observer', 'dev1', 'Kitchen-1', 'straße', 'ΣΟΦΟΣ', 'ｆｕｌｌ', 'ﬁle', ''), nastyText(12));
/** An id and a disguised variant: random case, invisible characters sprinkled in. */
const disguised = fc.tuple(idBase, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...INVISIBLE)), { maxLength: 4 }), fc.boolean()).map(([id, inserts, upper]) => {
  let v = upper ? id.toUpperCase() : id;
  for (const [at, ch] of inserts) {
    const cps = [...v];
    const i = at % (cps.length + 1);
    v = [...cps.slice(0, i), ch, ...cps.slice(i)].join('');
  }
  return [id, v] as const;
});

function ownershipKeyTarget(): FuzzTarget {
  return {
    name: 'broker client id keys',
    fullRuns: 10_000,
    maxMs: 20,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(disguised, ([id, variant]) => {
          const d = () => `id ${show(id)}, variant ${show(variant)}`;
          const [k, kv] = stats.time(d, () => noThrow(d, () => [ownershipKey(id), ownershipKey(variant)]));
          if (ownershipKey(k) !== k) throw new Error(`ownershipKey is not idempotent on ${d()}: ${show(k)} → ${show(ownershipKey(k))}`);
          // Upper-casing a string can change it beyond case (e.g. ŉ → ʼN): then only the invisible characters are checked.
          if (kv !== k && ownershipKey(variant.toLowerCase()) !== ownershipKey(id.toLowerCase())) {
            stats.count('case mapping not reversible (skipped)');
            return;
          }
          if (kv !== k) throw new Error(`a disguised id gets another key: ${show(k)} vs ${show(kv)} on ${d()}`);
          stats.count(id === variant ? 'same id' : 'variant, same key');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const owner = fc.constantFrom('alice', 'bob', '');
const claimOp = fc.tuple(
  disguised.map(([, v]) => v),
  owner,
);

function ownersTarget(): FuzzTarget {
  return {
    name: 'broker client id owners',
    fullRuns: 3_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(fc.array(claimOp, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (ops, maxPerUser) => {
          const d = () => `claims ${show(ops, 600)}, maxPerUser ${maxPerUser}`;
          const owners = new ClientIdOwners(undefined, maxPerUser);
          // Reference: key → owner, per owner in least-recently-used order.
          const ref = new Map<string, string>();
          let refused = 0;
          stats.time(d, () =>
            noThrow(d, () => {
              for (const [id, who] of ops) {
                const key = ownershipKey(id);
                const current = ref.get(key);
                const got = owners.claim(id, who, () => {});
                if (current !== undefined && current !== who) {
                  if (got.ok || got.owner !== current) throw new Error(`claim of ${show(id)} by ${show(who)} = ${show(got)}, reference owner ${show(current)}`);
                  refused++;
                  continue;
                }
                if (!got.ok) throw new Error(`claim of ${show(id)} by ${show(who)} refused (${show(got)}), reference: free or its own`);
                ref.delete(key);
                const mine = [...ref].filter(([, w]) => w === who);
                if (current === undefined && mine.length >= maxPerUser) ref.delete(mine[0]![0]);
                ref.set(key, who);
              }
              if (owners.size !== ref.size) throw new Error(`${owners.size} owned ids, reference ${ref.size}`);
              for (const [key, who] of ref)
                if (owners.ownerOf(key) !== who) throw new Error(`owner of ${show(key)} is ${show(owners.ownerOf(key))}, reference ${show(who)}`);
            }),
          );
          stats.count(refused > 0 ? 'some claims refused' : 'all claims granted');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

function patternTarget(): FuzzTarget {
  return {
    name: 'broker client id patterns',
    fullRuns: 5_000,
    maxMs: 20,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      const user = fc.oneof(fc.stringMatching(/^[a-z0-9._*+?()[\]^$|\\-]{1,10}$/), nastyText(8));
      fc.assert(
        fc.property(user, fc.stringMatching(/^[a-z0-9-]{0,10}$/), nastyText(16), (u, suffix, other) => {
          const d = () => `user ${show(u)}, suffix ${show(suffix)}, other id ${show(other)}`;
          const [own, random] = stats.time(d, () => noThrow(d, () => [clientIdMatches('%u-*', `${u}-${suffix}`, u), clientIdMatches('%u-*', other, u)]));
          // Only where normalising the whole equals normalising the parts (no combining across the seam).
          const clean = ownershipKey(`${u}-${suffix}`) === `${ownershipKey(u)}-${ownershipKey(suffix)}`;
          if (clean && u !== '' && !own) throw new Error(`"${u}-${suffix}" does not match %u-* for its own user`);
          if (clientIdMatches('%u-*', `${u}-x`, undefined)) throw new Error('an anonymous client matched a %u pattern');
          stats.count(random ? 'other id matches' : 'other id refused');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const retainedOp = fc.tuple(owner, fc.constantFrom('a', 'a/b', 'b', 'é/x', 'c/d/e', 'z'), fc.oneof(fc.constant(0), fc.nat({ max: 400 })));

function retainedTarget(): FuzzTarget {
  return {
    name: 'broker retained ledger',
    fullRuns: 3_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      const boundsArb = fc.record({
        maxPayloadBytes: fc.integer({ min: 1, max: 500 }),
        maxPerUser: fc.integer({ min: 0, max: 4 }),
        maxBytesPerUser: fc.integer({ min: 0, max: 1000 }),
        maxTotal: fc.integer({ min: 0, max: 6 }),
        maxBytesTotal: fc.integer({ min: 0, max: 1500 }),
      });
      fc.assert(
        fc.property(boundsArb, fc.array(retainedOp, { minLength: 1, maxLength: 40 }), (bounds: RetainedBounds, ops) => {
          const d = () => `bounds ${show(bounds)}, publishes ${show(ops, 600)}`;
          const ledger = new RetainedLimits(bounds);
          const live = new Map<string, { owner: string; bytes: number }>();
          let refused = 0;
          stats.time(d, () =>
            noThrow(d, () => {
              for (const [who, topic, n] of ops) {
                const verdict = ledger.check(who, topic, n);
                if (n === 0 && verdict !== 'ok') throw new Error(`a clearing publish was refused (${verdict})`);
                if (n > bounds.maxPayloadBytes && verdict !== 'retained_too_large')
                  throw new Error(`payload ${n} over ${bounds.maxPayloadBytes} got ${verdict}`);
                if (verdict !== 'ok') {
                  refused++;
                  continue;
                }
                ledger.accept(who, topic, n, () => {});
                if (n === 0) live.delete(topic);
                else live.set(topic, { owner: who, bytes: Buffer.byteLength(topic) + n });
                // The ledger equals the recomputed one and stays within every bound.
                const sum = (f: (e: { owner: string; bytes: number }) => boolean) =>
                  [...live.values()].filter(f).reduce((a, e) => ({ count: a.count + 1, bytes: a.bytes + e.bytes }), { count: 0, bytes: 0 });
                const total = sum(() => true);
                if (JSON.stringify(ledger.usage()) !== JSON.stringify(total)) throw new Error(`total ${show(ledger.usage())}, recomputed ${show(total)}`);
                if (total.count > bounds.maxTotal || total.bytes > bounds.maxBytesTotal) throw new Error(`over the total bounds: ${show(total)}`);
                for (const w of ['alice', 'bob', '']) {
                  const u = sum((e) => e.owner === w);
                  if (JSON.stringify(ledger.usage(w)) !== JSON.stringify(u))
                    throw new Error(`usage of ${show(w)} ${show(ledger.usage(w))}, recomputed ${show(u)}`);
                  if (u.count > bounds.maxPerUser || u.bytes > bounds.maxBytesPerUser) throw new Error(`${show(w)} over its bounds: ${show(u)}`);
                }
              }
            }),
          );
          stats.count(refused > 0 ? 'some refused' : 'all kept');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

const throttleOp = fc.tuple(
  fc.constantFrom('admit', 'admit', 'admit', 'fail', 'answer', 'answer', 'succeed', 'wait'),
  fc.constantFrom('10.0.0.1', '10.0.0.1', '10.0.0.2', '::1'),
  fc.constantFrom('alice', 'alice', 'bob', 'x', ''),
  fc.nat({ max: 20_000 }),
);

function throttleTarget(): FuzzTarget {
  return {
    name: 'broker login throttle',
    fullRuns: 3_000,
    maxMs: 50,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      fc.assert(
        fc.property(fc.array(throttleOp, { minLength: 1, maxLength: 80 }), (ops) => {
          const d = () => `operations ${show(ops, 600)}`;
          let now = 0;
          const opts = {
            freeFailures: 2,
            freeFailuresPerAddress: 4,
            baseDelayMs: 100,
            maxDelayMs: 5000,
            forgetMs: 60_000,
            maxAddresses: 2,
            maxUsersPerAddress: 2,
            maxInFlightPerAddress: 2,
          };
          const t = new LoginThrottle(opts, () => now);
          let delayed = 0;
          stats.time(d, () =>
            noThrow(d, () => {
              // Attempts admitted and not yet answered, per pair, to drive the throttle as the gate does.
              const open = new Map<string, number>();
              for (const [op, address, user, ms] of ops) {
                const pair = `${address} ${user}`;
                if (op === 'wait') now += ms;
                else if (op === 'admit') {
                  if (t.admit(address, user)) open.set(pair, (open.get(pair) ?? 0) + 1);
                } else if ((open.get(pair) ?? 0) > 0 || (op !== 'succeed' && t.admit(address, user) && (open.set(pair, (open.get(pair) ?? 0) + 1), true))) {
                  open.set(pair, open.get(pair)! - 1);
                  if (op === 'succeed') t.succeeded(address, user);
                  else {
                    const delay = t.failed(address, user);
                    if (!(delay >= 0 && delay <= opts.maxDelayMs)) throw new Error(`delay ${delay} out of [0, ${opts.maxDelayMs}]`);
                    if (delay > 0) delayed++;
                    if (op === 'answer') t.answered(address, user);
                    else open.set(pair, open.get(pair)! + 1); // still held: answered later
                  }
                }
                if (t.suspicion(address, user) < 0) throw new Error(`negative suspicion for ${pair}`);
              }
            }),
          );
          stats.count(delayed > 0 ? 'some answers delayed' : 'no delays');
        }),
        fcParams(o),
      );
      return stats.report(this.name, o.seed);
    },
  };
}

export function brokerTargets(): FuzzTarget[] {
  return [ownershipKeyTarget(), ownersTarget(), patternTarget(), retainedTarget(), throttleTarget()];
}
