/**
 * Password hashing is CPU work that anyone who can open a socket may ask for. This runs at
 * most `concurrency` checks at once; up to `maxQueued` more wait, the least suspicious
 * first (fewest recent failures of their address and username, see LoginThrottle), in
 * arrival order among equals. When the queue is full, a newcomer less suspicious than the
 * worst waiting check takes its place (that one is answered 'busy'); otherwise the newcomer
 * is answered 'busy' at once. With two or more slots, one is kept for checks marked
 * `clean` (a username with no recent failures from its address), so that a running wave of
 * wrong guesses never holds every slot. So a sensor with a clean record is checked promptly
 * during such a wave, and the wave costs a bounded amount of CPU.
 */
export type CheckOutcome<T> = { busy: false; value: T } | { busy: true };

interface Waiting {
  readonly suspicion: number;
  readonly clean: boolean;
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

  /** Whether a check may take a slot now (the last slot only for a clean one). */
  private mayStart(clean: boolean): boolean {
    const free = this.concurrency - this.running;
    return free > 1 || (free === 1 && (clean || this.concurrency === 1));
  }

  run<T>(suspicion: number, check: () => Promise<T>, clean = false): Promise<CheckOutcome<T>> {
    return new Promise((resolve, reject) => {
      const start = () => {
        this.running++;
        check()
          .then(
            (value) => resolve({ busy: false, value }),
            (err: unknown) => reject(err),
          )
          .finally(() => {
            this.running--;
            for (let i = this.queue.findIndex((w) => this.mayStart(w.clean)); i >= 0; i = this.queue.findIndex((w) => this.mayStart(w.clean))) {
              this.queue.splice(i, 1)[0]!.start();
            }
          });
      };
      if (this.mayStart(clean)) return start();
      const waiting: Waiting = { suspicion, clean, seq: this.seq++, start, refuse: () => resolve({ busy: true }) };
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
