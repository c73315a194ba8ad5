/**
 * The status page's live feed: server-sent events, one JSON snapshot a second per view
 * (what a snapshot holds: status-snapshot.ts). Bounded whatever the browsers do:
 * - at most `maxClients` views (a further one is answered 503);
 * - one timer for all views, running only while one is open;
 * - a view whose socket has not taken the previous snapshot (a slow or vanished browser)
 *   is skipped until it drains: nothing queues, the next snapshot replaces the missed one;
 * - a view gets one page of devices (`pageSize` rows, sorted and filtered), not all;
 * - its live tail keeps at most `TAIL_LINES` lines between two snapshots (the rest counted).
 * Nothing is computed while no view is open; the hot path (`observeTail`) returns at once
 * when no view asked for a tail.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reading } from '../types.js';
import { StatusSnapshots, statusView, tailInto, type StatusSnapshotOptions, type StatusView } from './status-snapshot.js';

export interface StatusFeedOptions extends StatusSnapshotOptions {
  /** Default 4. */
  readonly maxClients?: number;
}

interface View extends StatusView {
  readonly res: ServerResponse;
  /** The socket has not taken the previous snapshot yet. */
  waiting: boolean;
}

export class StatusFeed {
  private readonly views = new Set<View>();
  private readonly snapshots: StatusSnapshots;
  private timer: ReturnType<typeof setInterval> | undefined;
  private tailing = 0;

  constructor(private readonly opts: StatusFeedOptions) {
    this.snapshots = new StatusSnapshots(opts);
  }

  get clients(): number {
    return this.views.size;
  }

  /** Answers `GET /events?filter=&sort=&page=&tail=` with an event stream. */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.views.size >= (this.opts.maxClients ?? 4)) {
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '10' });
      res.end('too many status page views open\n');
      return;
    }
    const view: View = { ...statusView(new URL(req.url ?? '/', 'http://x').searchParams), res, waiting: false };
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.socket?.setTimeout(0); // a stream is quiet between snapshots by design; the socket is closed by the browser or stop()
    this.views.add(view);
    if (view.tail) this.tailing++;
    res.once('close', () => {
      if (this.views.delete(view) && view.tail) this.tailing--;
      if (this.views.size === 0) this.pause();
    });
    res.on('drain', () => (view.waiting = false));
    this.resume();
    void this.send(view);
  }

  /** The hot path: called with every decoded batch; does nothing unless a view tails. */
  observeTail(readings: readonly Reading[], topic: string, tag: string): void {
    if (this.tailing === 0) return;
    for (const v of this.views) tailInto(v, readings, topic, tag);
  }

  /** Ends every stream and the timer. */
  stop(): void {
    this.pause();
    for (const v of this.views) v.res.end();
    this.views.clear();
    this.tailing = 0;
  }

  private resume(): void {
    if (this.timer !== undefined) return;
    this.snapshots.begin();
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  private pause(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    for (const v of this.views) await this.send(v);
  }

  private async send(v: View): Promise<void> {
    if (v.waiting || v.res.writableEnded || v.res.destroyed) return; // a slow browser misses this one
    try {
      const text = `data: ${JSON.stringify(await this.snapshots.of(v))}\n\n`;
      if (!v.res.write(text)) v.waiting = true;
    } catch (err) {
      this.opts.logger.warn({ err }, 'status page: a snapshot failed');
    }
  }
}
