/**
 * The RxJS classes the daemon uses, imported from their own modules under `rxjs/internal/`
 * (a path rxjs 7's package exports) instead of from `rxjs`: in Node, `rxjs` resolves to its
 * CommonJS index, which loads all of RxJS (about 220 modules, every operator) for the
 * handful of classes edgeflux builds its operators from. Measured on node 20: the index
 * costs 10.5 MB of RSS and 5 MB of V8 heap, these modules 6 MB and 0.5 MB (docs/raspberry-pi.md).
 *
 * `rxjs/internal/*` is not rxjs's public API, so this is the only file that imports it
 * (eslint's no-restricted-imports keeps values from `rxjs` out of src/; types are free), and
 * test/unit/rx-adapter.test.ts pins the rxjs version and checks that each export here is the
 * very object that `rxjs` exports. After an rxjs upgrade, re-check these paths.
 */
export { Observable } from 'rxjs/internal/Observable';
export { Subject } from 'rxjs/internal/Subject';
export { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
export { identity } from 'rxjs/internal/util/identity';
export { asyncScheduler } from 'rxjs/internal/scheduler/async';
export { VirtualAction, VirtualTimeScheduler } from 'rxjs/internal/scheduler/VirtualTimeScheduler';
export type { OperatorFunction, SchedulerLike, Subscriber, Subscription } from 'rxjs';
