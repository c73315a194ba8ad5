/**
 * src/util/rx.ts takes RxJS's classes from `rxjs/internal/*` so that the daemon does not load
 * all of RxJS. Pinned: the installed rxjs version (a minor upgrade fails here, naming the file
 * to re-check), and each export is the very object the public `rxjs` entry exports, so that
 * `instanceof`, schedulers and subjects behave as with `rxjs` itself.
 */
import { createRequire } from 'node:module';
import * as rxjs from 'rxjs';
import { describe, expect, it } from 'vitest';
import * as rx from '../../src/util/rx.js';

const VERIFIED = '7.8';

describe('the RxJS adapter (src/util/rx.ts)', () => {
  it(`is checked against rxjs ${VERIFIED}.x: after an upgrade, re-check the rxjs/internal paths in src/util/rx.ts`, () => {
    const version = (createRequire(import.meta.url)('rxjs/package.json') as { version: string }).version;
    expect(version.split('.').slice(0, 2).join('.')).toBe(VERIFIED);
  });

  it('exports the same objects as the public rxjs entry', () => {
    const names = Object.keys(rx);
    expect(names.sort()).toEqual(['BehaviorSubject', 'Observable', 'Subject', 'VirtualAction', 'VirtualTimeScheduler', 'asyncScheduler', 'identity']);
    for (const name of names) expect((rx as Record<string, unknown>)[name], name).toBe((rxjs as Record<string, unknown>)[name]);
  });

  it('an Observable built from the adapter works with the public operators', async () => {
    const { firstValueFrom, map, toArray } = rxjs;
    const s = new rx.BehaviorSubject(1);
    const o = new rx.Observable<number>((sub) => {
      sub.next(2);
      sub.next(3);
      sub.complete();
    });
    expect(s).toBeInstanceOf(rxjs.Subject);
    expect(
      await firstValueFrom(
        o.pipe(
          map((x) => x * 10),
          toArray(),
        ),
      ),
    ).toEqual([20, 30]);
  });
});
