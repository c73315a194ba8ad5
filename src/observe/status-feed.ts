/**
 * The status page's live feed: server-sent events, one JSON snapshot a second per view.
 * Bounded whatever the browsers do:
 * - at most `maxClients` views (a further one is answered 503);
 * - one timer for all views, running only while one is open;
 * - a view whose socket has not taken the previous snapshot (a slow or vanished browser)
 *   is skipped until it drains: nothing queues, the next snapshot replaces the missed one;
 * - a view gets one page of devices (`pageSize` rows, sorted and filtered here), not all;
 * - its live tail keeps at most `TAIL_LINES` lines between two snapshots (the rest counted).
 * Nothing is computed while no view is open; the hot path (`observeTail`) returns at once
 * when no view asked for a tail. The age of each backlogged output's oldest unwritten
 * message is one journal read of one record per output a second, shared by every view.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reading } from '../types.js';
import { withTimeout } from '../util/timeout.js';
import { filterMatcher } from '../util/topic-template.js';
import type { BadInputLog } from './bad-input.js';
import type { CounterEntry, CounterName } from './counters.js';
import type { Counters } from './counters.js';
import type { DeviceRow, DeviceTable } from './device-table.js';
import type { HealthReport } from './health.js';
import type { Logger } from './logger.js';

/** What the daemon tells the page about its outputs and spool. */
export interface StatusFacts {
  readonly outputs: readonly {
    readonly id: string;
    readonly state: string;
    readonly lastError?: string;
    readonly downSince?: number;
    /** Messages in the journal this output has not written yet. */
    readonly behind: number;
    readonly cursor: number;
  }[];
  readonly spool?: { readonly mode: string; readonly bytes: number; readonly maxBytes: number; readonly dropped: number; readonly holding: number };
}

export interface StatusFeedOptions {
  readonly counters: Counters;
  readonly devices: DeviceTable;
  /** Devices judged stale (service.stale_devices), when that is on. */
  readonly stale?: () => ReadonlySet<string>;
  readonly bad: BadInputLog;
  readonly facts: () => StatusFacts;
  /** When the journal record at `seq` (or the oldest stored after it) arrived, ms; undefined when none. */
  readonly receivedAt?: (seq: number) => Promise<number | undefined>;
  readonly health: () => Promise<HealthReport>;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Default 4. */
  readonly maxClients?: number;
  /** Default 1000 ms. */
  readonly intervalMs?: number;
  /** Default 50. */
  readonly pageSize?: number;
}

const TAIL_LINES = 50;
/** How long a journal read for a message's age may take before the snapshot goes without it. */
const READ_TIMEOUT_MS = 1000;
const SORTS = ['device', 'last_seen', 'readings', 'source'] as const;
type Sort = (typeof SORTS)[number];

interface View {
  readonly res: ServerResponse;
  readonly filter: string;
  readonly sort: Sort;
  readonly page: number;
  readonly tail?: { readonly text: string; readonly matches: (topic: string, device: string | undefined) => boolean };
  tailLines: string[];
  tailDropped: number;
  /** Readings per device at the previous snapshot (rows shown only), for readings/min. */
  prev: Map<string, number>;
  prevAt: number;
  waiting: boolean;
}

export class StatusFeed {
  private readonly views = new Set<View>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private tailing = 0;
  private prevCounters: CounterEntry[] = [];
  private prevAt = 0;
  private readonly now: () => number;

  constructor(private readonly opts: StatusFeedOptions) {
    this.now = opts.now ?? Date.now;
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
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const sort = (SORTS as readonly string[]).includes(q.get('sort') ?? '') ? (q.get('sort') as Sort) : 'last_seen';
    const tailText = (q.get('tail') ?? '').slice(0, 256);
    const view: View = {
      res,
      filter: (q.get('filter') ?? '').slice(0, 256).toLowerCase(),
      sort,
      page: Math.max(0, Math.min(1e6, Math.floor(Number(q.get('page') ?? 0)) || 0)),
      ...(tailText !== '' && { tail: { text: tailText, matches: tailMatcher(tailText) } }),
      tailLines: [],
      tailDropped: 0,
      prev: new Map(),
      prevAt: 0,
      waiting: false,
    };
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
    for (const v of this.views) {
      if (!v.tail) continue;
      for (const r of readings) {
        if (!v.tail.matches(topic, r.tags[tag])) continue;
        if (v.tailLines.length >= TAIL_LINES) v.tailDropped++;
        else v.tailLines.push(`${topic}  ${formatReading(r)}`);
      }
    }
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
    this.prevCounters = this.opts.counters.snapshot();
    this.prevAt = this.now();
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
      const text = `data: ${JSON.stringify(await this.snapshot(v))}\n\n`;
      if (!v.res.write(text)) v.waiting = true;
    } catch (err) {
      this.opts.logger.warn({ err }, 'status page: a snapshot failed');
    }
  }

  private async snapshot(v: View): Promise<object> {
    const now = this.now();
    const counters = this.opts.counters.snapshot();
    const dt = Math.max(0.001, (now - this.prevAt) / 1000);
    // Rates over the last interval, shared by every view (the first view's tick moves the window).
    if (now - this.prevAt >= (this.opts.intervalMs ?? 1000) * 0.9) {
      this.flow = {
        in: rates(counters, this.prevCounters, 'messages_received', 'source', dt),
        bad: rates(counters, this.prevCounters, 'messages_failed', 'reason', dt),
        out: rates(counters, this.prevCounters, 'points_written', 'output', dt),
        ignored: total(counters, 'messages_ignored') - total(this.prevCounters, 'messages_ignored'),
        consumed: this.consumed(dt),
      };
      this.prevCounters = counters;
      this.prevAt = now;
      this.unwritten = await this.oldestUnwritten();
    }
    const facts = this.opts.facts();
    const health = await this.opts.health();
    const tail = v.tailLines;
    v.tailLines = [];
    const dropped = v.tailDropped;
    v.tailDropped = 0;
    return {
      t: now,
      health: { status: health.status, reasons: health.reasons },
      flow: { in: this.flow.in, bad: this.flow.bad, out: this.flow.out, ignored_per_s: this.flow.ignored / dt },
      outputs: facts.outputs.map((o) => {
        const rate = this.flow.consumed.get(o.id) ?? 0;
        return { ...o, eta_s: o.behind > 0 && rate > 0 ? Math.round(o.behind / rate) : null, drain_per_s: rate, lag_s: this.lagSeconds(o, now) };
      }),
      spool: facts.spool ? { ...facts.spool, oldest_unwritten_s: this.oldestAge(facts.outputs, now) } : null,
      devices: this.devicePage(v, now),
      bad: this.opts.bad.latest().slice(0, 20),
      ...(v.tail && { tail: { filter: v.tail.text, lines: tail, dropped } }),
    };
  }

  private flow: { in: Record<string, number>; bad: Record<string, number>; out: Record<string, number>; ignored: number; consumed: Map<string, number> } = {
    in: {},
    bad: {},
    out: {},
    ignored: 0,
    consumed: new Map(),
  };
  private prevCursors = new Map<string, number>();
  /** Per output: its cursor and when the message at it arrived (ms), as of the last window. */
  private unwritten = new Map<string, { readonly cursor: number; readonly atMs: number }>();

  /** One journal read per backlogged output: when its oldest unwritten message arrived. */
  private async oldestUnwritten(): Promise<Map<string, { cursor: number; atMs: number }>> {
    const out = new Map<string, { cursor: number; atMs: number }>();
    const read = this.opts.receivedAt;
    if (read === undefined) return out;
    for (const o of this.opts.facts().outputs) {
      if (o.behind <= 0) continue;
      try {
        const atMs = await withTimeout(read(o.cursor), READ_TIMEOUT_MS, 'journal read');
        if (atMs !== undefined) out.set(o.id, { cursor: o.cursor, atMs });
      } catch (err) {
        this.opts.logger.debug({ err, output: o.id }, 'status page: the age of the oldest unwritten message is unknown');
      }
    }
    return out;
  }

  /** Seconds the output is behind: the age of its oldest unwritten message; 0 when caught up, null when unknown. */
  private lagSeconds(o: StatusFacts['outputs'][number], now: number): number | null {
    if (o.behind <= 0) return 0;
    const u = this.unwritten.get(o.id);
    return u === undefined ? null : Math.max(0, Math.round((now - u.atMs) / 1000));
  }

  /** The age of the oldest message some output has not written (the slowest output's), s; 0 when none, null when unknown. */
  private oldestAge(outputs: StatusFacts['outputs'], now: number): number | null {
    const lags = outputs.map((o) => this.lagSeconds(o, now));
    const known = lags.filter((s): s is number => s !== null);
    return known.length === 0 && lags.length > 0 ? null : Math.max(0, ...known);
  }

  /** Messages per second each output moved its cursor by (its drain rate). */
  private consumed(dt: number): Map<string, number> {
    const out = new Map<string, number>();
    const cursors = new Map<string, number>();
    for (const o of this.opts.facts().outputs) {
      cursors.set(o.id, o.cursor);
      const before = this.prevCursors.get(o.id);
      if (before !== undefined) out.set(o.id, Math.max(0, (o.cursor - before) / dt));
    }
    this.prevCursors = cursors;
    return out;
  }

  private devicePage(v: View, now: number): object {
    const stale = this.opts.stale?.() ?? new Set<string>();
    let rows = this.opts.devices.rows();
    if (v.filter)
      rows = rows.filter(
        (r) => r.device.toLowerCase().includes(v.filter) || r.source.toLowerCase().includes(v.filter) || r.measurement.toLowerCase().includes(v.filter),
      );
    rows.sort(comparator(v.sort));
    const size = this.opts.pageSize ?? 50;
    const pages = Math.max(1, Math.ceil(rows.length / size));
    const page = Math.min(v.page, pages - 1);
    const shown = rows.slice(page * size, (page + 1) * size);
    const dt = (now - v.prevAt) / 60_000;
    const per = (r: DeviceRow) => {
      const before = v.prev.get(r.device);
      return before === undefined || v.prevAt === 0 || dt <= 0 ? null : Math.round(((r.readings - before) / dt) * 10) / 10;
    };
    const out = shown.map((r) => ({
      device: r.device,
      source: r.source,
      measurement: r.measurement,
      last_seen: r.lastSeenMs,
      readings: r.readings,
      per_min: per(r),
      state: r.availability !== undefined && r.availability !== 'online' ? r.availability : stale.has(r.device) ? 'stale' : 'online',
      values: formatFields(r.fields, r.units),
    }));
    v.prev = new Map(shown.map((r) => [r.device, r.readings]));
    v.prevAt = now;
    return { total: rows.length, page, pages, rows: out };
  }
}

function comparator(sort: Sort): (a: DeviceRow, b: DeviceRow) => number {
  switch (sort) {
    case 'device':
      return (a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);
    case 'readings':
      return (a, b) => b.readings - a.readings;
    case 'source':
      return (a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0) || b.lastSeenMs - a.lastSeenMs;
    default:
      return (a, b) => b.lastSeenMs - a.lastSeenMs;
  }
}

/** A device name, or an MQTT topic filter (with `/`, `+` or `#`). */
function tailMatcher(text: string): (topic: string, device: string | undefined) => boolean {
  if (!/[/+#]/.test(text)) return (_t, d) => d === text;
  const m = filterMatcher([text]);
  return (t) => m?.(t) === true;
}

function total(entries: readonly CounterEntry[], name: CounterName): number {
  let s = 0;
  for (const e of entries) if (e.name === name) s += e.value;
  return s;
}

function rates(now: readonly CounterEntry[], prev: readonly CounterEntry[], name: CounterName, label: string, dt: number): Record<string, number> {
  const sum = (entries: readonly CounterEntry[]) => {
    const m = new Map<string, number>();
    for (const e of entries) if (e.name === name) m.set(e.labels[label] ?? '', (m.get(e.labels[label] ?? '') ?? 0) + e.value);
    return m;
  };
  const a = sum(now);
  const b = sum(prev);
  const out: Record<string, number> = {};
  for (const [k, v] of a) out[k] = Math.round(((v - (b.get(k) ?? 0)) / dt) * 10) / 10;
  return out;
}

function formatValue(v: unknown, unit: string | undefined): string {
  if (typeof v === 'number') {
    const text = Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    return unit === undefined ? text : `${text} ${unit}`;
  }
  if (typeof v === 'bigint' && unit !== undefined) return `${v} ${unit}`;
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 39)}…` : v);
  return String(v);
}

/** `temperature=21.5 humidity=40`, at most 8 fields; with units (`temperature=21.5 °C`) for numbers where `units` names one. */
export function formatFields(fields: Readonly<Record<string, unknown>>, units?: Readonly<Record<string, string>>): string {
  const keys = Object.keys(fields);
  const shown = keys.slice(0, 8).map((k) => `${k}=${formatValue(fields[k], units && Object.hasOwn(units, k) ? units[k] : undefined)}`);
  return keys.length > 8 ? `${shown.join(' ')} …` : shown.join(' ');
}

function formatReading(r: Reading): string {
  const tags = Object.entries(r.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${r.measurement}${tags ? `,${tags}` : ''} ${formatFields(r.fields)}`;
}
