import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Holdback, type Hold } from '../../src/pipeline/holdback.js';
import { StreamClock } from '../../src/pipeline/stream-clock.js';

describe('Holdback: holds', () => {
  it('reports the lowest held seq; several holds on one seq count separately', () => {
    const h = new Holdback();
    expect(h.lowestHeld()).toBeUndefined();
    const a = h.hold(5);
    const b = h.hold(5);
    const c = h.hold(9);
    expect(h.lowestHeld()).toBe(5);
    h.release(a);
    expect(h.lowestHeld()).toBe(5);
    h.release(b);
    expect(h.lowestHeld()).toBe(9);
    h.release(c);
    expect(h.lowestHeld()).toBeUndefined();
    expect(h.held).toBe(0);
  });

  it('takes holds out of order (an aggregate held again downstream)', () => {
    const h = new Holdback();
    const x = h.hold(10);
    const y = h.hold(3);
    const z = h.hold(7);
    expect(h.lowestHeld()).toBe(3);
    h.release(y);
    expect(h.lowestHeld()).toBe(7);
    h.release(z);
    h.release(x);
    expect(h.lowestHeld()).toBeUndefined();
  });

  it('refuses a double release', () => {
    const h = new Holdback();
    const a = h.hold(1);
    h.release(a);
    expect(() => h.release(a)).toThrow(/twice/);
  });

  it('matches a multiset of seqs under random holds and releases (and stays compact)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 }), fc.nat()), { maxLength: 400, size: 'max' }), (ops) => {
        const h = new Holdback();
        const live: Hold[] = [];
        for (const [take, seq, pick] of ops) {
          if (take || live.length === 0) live.push(h.hold(seq));
          else h.release(live.splice(pick % live.length, 1)[0] as Hold);
          const want = live.length ? Math.min(...live.map((x) => x.seq)) : undefined;
          expect(h.lowestHeld()).toBe(want);
        }
        expect(h.held).toBe(live.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('Holdback: commitBound', () => {
  it('never passes a hold', () => {
    const h = new Holdback();
    h.hold(40);
    expect(h.commitBound(100)).toBe(40);
    expect(h.commitBound(30)).toBe(30);
  });

  it('never lands inside an aggregated range (lo, hi]: moves down to lo', () => {
    const h = new Holdback();
    h.aggregated(10, 20);
    expect(h.commitBound(10)).toBe(10);
    expect(h.commitBound(15)).toBe(10);
    expect(h.commitBound(20)).toBe(10);
    expect(h.commitBound(21)).toBe(21); // every seq of the aggregate is below: fine (and forgotten)
    expect(h.ranges).toBe(0);
  });

  it('merges overlapping and touching ranges', () => {
    const h = new Holdback();
    h.aggregated(10, 20);
    h.aggregated(30, 40);
    h.aggregated(20, 25); // touches the first
    expect(h.ranges).toBe(2);
    expect(h.commitBound(25)).toBe(10);
    h.aggregated(5, 35); // swallows both
    expect(h.ranges).toBe(1);
    expect(h.commitBound(38)).toBe(5);
  });

  it('a single-reading aggregate constrains nothing', () => {
    const h = new Holdback();
    h.aggregated(7, 7);
    expect(h.ranges).toBe(0);
  });

  it('equals the brute-force definition over random holds, ranges and candidates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 5 }),
        fc.integer({ min: 0, max: 130 }),
        (ranges, holds, candidate) => {
          const h = new Holdback();
          for (const [lo, len] of ranges) h.aggregated(lo, lo + len);
          for (const s of holds) h.hold(s);
          const ok = (c: number) => holds.every((s) => c <= s) && ranges.every(([lo, len]) => !(lo < c && c <= lo + len));
          let want = candidate;
          while (!ok(want)) want--;
          expect(h.commitBound(candidate)).toBe(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stays bounded: past the cap the oldest ranges merge (a longer replay, never a wrong one)', () => {
    const h = new Holdback();
    for (let i = 0; i < 10_000; i++) h.aggregated(i * 10, i * 10 + 5);
    expect(h.ranges).toBeLessThanOrEqual(4096);
    expect(h.commitBound(3)).toBe(0);
    expect(h.commitBound(99_993)).toBe(99_990);
  });
});

describe('StreamClock', () => {
  it('runs actions in due order only as far as it is advanced, and never goes back', () => {
    const clock = new StreamClock(1000);
    const ran: string[] = [];
    clock.schedule(() => ran.push(`b@${clock.now()}`), 20);
    clock.schedule(() => ran.push(`a@${clock.now()}`), 10);
    expect(clock.now()).toBe(1000);
    clock.advanceTo(1015);
    expect(ran).toEqual(['a@1010']);
    expect(clock.now()).toBe(1015);
    clock.advanceTo(500);
    expect(clock.now()).toBe(1015);
    clock.advanceTo(2000);
    expect(ran).toEqual(['a@1010', 'b@1020']);
    expect(clock.now()).toBe(2000);
    expect(clock.pending).toBe(0);
  });

  it('runs actions scheduled by actions when they fall due within the same advance', () => {
    const clock = new StreamClock(0);
    const ran: number[] = [];
    const tick = () => {
      ran.push(clock.now());
      if (ran.length < 3) clock.schedule(tick, 100);
    };
    clock.schedule(tick, 100);
    clock.advanceTo(250);
    expect(ran).toEqual([100, 200]);
    clock.advanceTo(300);
    expect(ran).toEqual([100, 200, 300]);
  });

  it('cancels an action on unsubscribe', () => {
    const clock = new StreamClock(0);
    let ran = false;
    clock.schedule(() => (ran = true), 10).unsubscribe();
    clock.advanceTo(100);
    expect(ran).toBe(false);
  });
});
