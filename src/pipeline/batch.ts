import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Emits a batch when `maxCount` items have arrived or `maxWaitMs` after the batch's
 * first item, whichever comes first. Never emits an empty batch. On complete, flushes
 * the partial batch, then completes. On error, the partial batch is flushed first (its
 * items were accepted and must not vanish), then the error is forwarded. Unsubscribing
 * frees the timer and drops the partial batch (the owner flushes by completing instead).
 * Time is read only from `scheduler`.
 */
export function batch<T>(maxWaitMs: number, maxCount: number, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<T, T[]> {
  if (!(maxCount >= 1)) throw new RangeError(`batch: maxCount must be >= 1, got ${maxCount}`);
  if (!(maxWaitMs >= 0)) throw new RangeError(`batch: maxWaitMs must be >= 0, got ${maxWaitMs}`);
  return (source) =>
    new Observable<T[]>((out) => {
      let items: T[] = [];
      let timer: Subscription | undefined;
      const flush = () => {
        timer?.unsubscribe();
        timer = undefined;
        if (items.length > 0) {
          const b = items;
          items = [];
          out.next(b);
        }
      };
      const sub = source.subscribe({
        next(v) {
          items.push(v);
          if (items.length >= maxCount) flush();
          else timer ??= scheduler.schedule(flush, maxWaitMs);
        },
        error(e) {
          flush();
          out.error(e);
        },
        complete() {
          flush();
          out.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        timer?.unsubscribe();
        timer = undefined;
        items = [];
      };
    });
}
