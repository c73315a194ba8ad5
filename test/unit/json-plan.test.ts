import { describe, expect, it } from 'vitest';
import type { JsonOptions } from '../../src/config/types.js';
import { compileJsonPlan, planOf } from '../../src/devices/json-plan.js';
import { finish, newWalk, put } from '../../src/devices/json-reading.js';
import { isDecodeError } from '../../src/types.js';

const base: JsonOptions = { fields: [], rename: {}, separator: '_', integers: [], tag_keys: [], time_unit: 'ms', strings: 'keep' };
const ctx = { measurement: 'm', tags: { device: 'th1' }, receivedAt: 5n };

describe('compileJsonPlan / planOf: what the value under a flattened key becomes', () => {
  it('renames first, then: a tag if tag_keys names it (even when fields lists others), dropped if fields lists others, an integer, a field', () => {
    const c = compileJsonPlan({ ...base, rename: { a_b: 'ab', x: 'loc' }, fields: ['ab', 'n'], integers: ['n'], tag_keys: ['loc'] });
    expect(['a_b', 'x', 'n', 'other', ''].map((k) => planOf(c, k))).toEqual([
      { flat: 'a_b', name: 'ab', kind: 'field' },
      { flat: 'x', name: 'loc', kind: 'tag' },
      { flat: 'n', name: 'n', kind: 'integer' },
      { flat: 'other', name: 'other', kind: 'drop' },
      { flat: '', name: '', kind: 'skip' },
    ]);
  });

  it('compiles the time key in each form a payload may carry it', () => {
    const c = compileJsonPlan({ ...base, separator: '.', time_key: 'meta.ts', time_unit: 's' });
    expect([c.timeKey, c.timeNeedle, c.timePath, c.timeFlat, c.unit]).toEqual(['meta.ts', '"meta.ts"', ['meta', 'ts'], 'meta.ts', 's']);
    const none = compileJsonPlan(base);
    expect([none.timeKey, none.timePath, none.timeFlat]).toEqual([undefined, [], '']);
  });
});

describe('put / finish: one message’s reading', () => {
  it('types each value by its plan; the context’s tags win over the payload’s', () => {
    const c = compileJsonPlan({ ...base, integers: ['n'], tag_keys: ['device', 'room'] });
    const w = newWalk();
    for (const [k, v] of [
      ['t', 21.5],
      ['n', 3],
      ['on', true],
      ['s', 'idle'],
      ['device', 'spoofed'],
      ['room', 7],
    ] as const)
      expect(put(c, planOf(c, k), v, w)).toBeUndefined();
    expect(finish(w, undefined, ctx)).toEqual([
      { measurement: 'm', tags: { device: 'th1', room: '7' }, fields: { t: 21.5, n: 3n, on: true, s: 'idle' }, time: 5n },
    ]);
  });

  it('refuses an integer field that is not one, and a non-finite float', () => {
    const c = compileJsonPlan({ ...base, integers: ['n'] });
    expect(put(c, planOf(c, 'n'), 1.5, newWalk())).toMatchObject({ reason: 'wrong_type' });
    expect(put(c, planOf(c, 'n'), '1', newWalk())).toMatchObject({ reason: 'wrong_type' });
    expect(put(c, planOf(c, 't'), Infinity, newWalk())).toMatchObject({ reason: 'wrong_type' });
  });

  it('an integer beyond 2^53 is taken from its literal text, and must fit int64', () => {
    const c = compileJsonPlan({ ...base, integers: ['n'] });
    const w = newWalk();
    put(c, planOf(c, 'n'), Number('9007199254740993'), w); // JSON.parse reads 2^53 + 1 as 2^53
    expect(finish(w, 1n, ctx, () => '9007199254740993')).toMatchObject([{ fields: { n: 9007199254740993n }, time: 1n }]);
    const over = newWalk();
    put(c, planOf(c, 'n'), 1e19, over);
    const r = finish(over, 1n, ctx, () => '10000000000000000000');
    expect(isDecodeError(r) && r.reason).toBe('wrong_type');
  });

  it('no fields left (tags, nulls, dropped strings only) is no_fields', () => {
    const c = compileJsonPlan({ ...base, strings: 'drop', tag_keys: ['room'] });
    const w = newWalk();
    put(c, planOf(c, 'room'), 'k', w);
    put(c, planOf(c, 's'), 'idle', w);
    expect(finish(w, undefined, ctx)).toMatchObject({ reason: 'no_fields' });
  });
});
