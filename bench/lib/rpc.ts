/**
 * Request/response over a child's IPC channel: the bench's workers (load generator,
 * counting subscriber, POST flood) are separate processes so that their CPU is never
 * counted against the system under test. Every call has a timeout.
 */
import type { Proc } from './procs.js';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}
interface Response {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export class WorkerClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(readonly proc: Proc) {
    proc.child.on('message', (m: Response) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`${proc.name}: ${m.error ?? 'failed'}`));
    });
    void proc.exited.then((code) => {
      for (const [id, w] of this.waiting) {
        clearTimeout(w.timer);
        w.reject(new Error(`${proc.name} exited (${code}) during a call: ${proc.tail().trim().slice(-1500)}`));
        this.waiting.delete(id);
      }
    });
  }

  call<T>(cmd: string, args: unknown, timeoutMs: number): Promise<T> {
    if (this.proc.hasExited()) return Promise.reject(new Error(`${this.proc.name} is not running: ${this.proc.tail().trim().slice(-1500)}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.proc.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const req: Request = { id, cmd, args };
      this.proc.child.send(req);
    });
  }
}

/** The worker side: answers each request with its handler's result (or error). Exits when the parent goes. */
export function serve(handlers: Record<string, (args: any) => unknown>): void {
  if (!process.send) throw new Error('this worker must be started with an IPC channel');
  const send = process.send.bind(process);
  process.on('message', (req: Request) => {
    const h = handlers[req.cmd];
    const reply = (r: Response): void => void send(r);
    if (!h) return reply({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
    Promise.resolve()
      .then(() => h(req.args))
      .then(
        (result) => reply({ id: req.id, ok: true, result }),
        (e: unknown) => reply({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}
