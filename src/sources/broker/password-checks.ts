/**
 * Password hashing is CPU work that anyone who can open a socket may ask for. This runs at
 * most `concurrency` checks at once; up to `maxQueued` more wait, the least suspicious
 * first (fewest recent failures of their address and username, see LoginThrottle), in
 * arrival order among equals. When the queue is full, a newcomer less suspicious than the
 * worst waiting check takes its place (that one is answered 'busy'); otherwise the newcomer
 * is answered 'busy' at once. So a sensor with a clean record is checked promptly during a
 * wave of wrong guesses, and the wave costs a bounded amount of CPU.
 */
export type CheckOutcome<T> = { busy: false; value: T } | { busy: true };

interface Waiting {
  readonly suspicion: number;
  readonly seq: number;
  readonly start: () => void;
  readonly refuse: () => void;
}

export class PasswordChecks {
  private running = 0;
  private seq = 0;
  /** Sorted: least suspicious first, then oldest. */
  private readonly queue: Waiting[] = [];

  constructor(
    private readonly concurrency = 2,
    private readonly maxQueued = 16,
  ) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.queue.length;
  }

  run<T>(suspicion: number, check: () => Promise<T>): Promise<CheckOutcome<T>> {
    return new Promise((resolve, reject) => {
      const start = () => {
        this.running++;
        check().then(
          (value) => resolve({ busy: false, value }),
          (err: unknown) => reject(err),
        ).finally(() => {
          this.running--;
          this.queue.shift()?.start();
        });
      };
      if (this.running < this.concurrency) return start();
      const waiting: Waiting = { suspicion, seq: this.seq++, start, refuse: () => resolve({ busy: true }) };
      if (this.queue.length >= this.maxQueued) {
        const worst = this.queue[this.queue.length - 1];
        if (worst === undefined || worst.suspicion <= suspicion) return resolve({ busy: true });
        this.queue.pop();
        worst.refuse();
      }
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1]!.suspicion > suspicion) i--;
      this.queue.splice(i, 0, waiting);
    });
  }
}
