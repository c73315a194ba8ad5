/**
 * What the status page shows, computed: one JSON snapshot per view (health, the flow in
 * and out, each output's backlog and lag, the spool, one page of devices, the latest bad
 * messages, the view's live tail). How snapshots reach the browsers is status-feed.ts.
 *
 * The rates (messages in, bad, points out, each output's drain rate) are taken over the
 * last interval and shared by every view: the first snapshot of an interval moves the
 * window. The age of each backlogged output's oldest unwritten message is one journal
 * read of one record per output and interval. A view's tail keeps at most `TAIL_LINES`
 * lines between two snapshots (the rest counted).
 */
import type { Reading } from '../types.js';
import { withTimeout } from '../util/timeout.js';
import { filterMatcher } from '../util/topic-template.js';
import type { BadInputLog } from './bad-input.js';
import type { CounterEntry, CounterName, Counters } from './counters.js';
import type { DeviceTable } from './device-table.js';
import type { HealthReport } from './health.js';
import type { Logger } from './logger.js';
import { devicePage, formatReading, SORTS, type DeviceQuery, type Sort } from './status-devices.js';

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

export interface StatusSnapshotOptions {
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
  /** The interval between two snapshots of a view, over which rates are taken. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Device rows per page. Default 50. */
  readonly pageSize?: number;
}

export const TAIL_LINES = 50;
/** How long a journal read for a message's age may take before the snapshot goes without it. */
const READ_TIMEOUT_MS = 1000;

/** One view of the page: what it asks for (`GET /events?filter=&sort=&page=&tail=`) and its tail since the last snapshot. */
export interface StatusView extends DeviceQuery {
  readonly tail?: { readonly text: string; readonly matches: (topic: string, device: string | undefined) => boolean };
  tailLines: string[];
  tailDropped: number;
}

/** The view a query asks for; nonsense falls back to the defaults (sort by last seen, page 0), long texts are cut at 256. */
export function statusView(q: URLSearchParams): StatusView {
  const sort = (SORTS as readonly string[]).includes(q.get('sort') ?? '') ? (q.get('sort') as Sort) : 'last_seen';
  const tailText = (q.get('tail') ?? '').slice(0, 256);
  return {
    filter: (q.get('filter') ?? '').slice(0, 256).toLowerCase(),
    sort,
    page: Math.max(0, Math.min(1e6, Math.floor(Number(q.get('page') ?? 0)) || 0)),
    ...(tailText !== '' && { tail: { text: tailText, matches: tailMatcher(tailText) } }),
    tailLines: [],
    tailDropped: 0,
    prev: new Map(),
    prevAt: 0,
  };
}

/** Adds the readings of one message that match the view's tail (by `topic`, or the device in tag `tag`) to its lines. */
export function tailInto(v: StatusView, readings: readonly Reading[], topic: string, tag: string): void {
  if (!v.tail) return;
  for (const r of readings) {
    if (!v.tail.matches(topic, r.tags[tag])) continue;
    if (v.tailLines.length >= TAIL_LINES) v.tailDropped++;
    else v.tailLines.push(`${topic}  ${formatReading(r)}`);
  }
}

type Output = StatusFacts['outputs'][number];

export class StatusSnapshots {
  private readonly now: () => number;
  private readonly intervalMs: number;
  private prevCounters: CounterEntry[] = [];
  private prevAt = 0;
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

  constructor(private readonly opts: StatusSnapshotOptions) {
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 1000;
  }

  /** Starts the rates' window afresh (the first view opened). */
  begin(): void {
    this.prevCounters = this.opts.counters.snapshot();
    this.prevAt = this.now();
  }

  /** The snapshot for view `v`; takes its tail lines and moves its device page's per-minute base. */
  async of(v: StatusView): Promise<object> {
    const now = this.now();
    const counters = this.opts.counters.snapshot();
    const dt = Math.max(0.001, (now - this.prevAt) / 1000);
    // Rates over the last interval, shared by every view (the first view's tick moves the window).
    if (now - this.prevAt >= this.intervalMs * 0.9) {
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
    const stale = this.opts.stale?.() ?? new Set<string>();
    return {
      t: now,
      health: { status: health.status, reasons: health.reasons },
      flow: { in: this.flow.in, bad: this.flow.bad, out: this.flow.out, ignored_per_s: this.flow.ignored / dt },
      outputs: facts.outputs.map((o) => {
        const rate = this.flow.consumed.get(o.id) ?? 0;
        return { ...o, eta_s: o.behind > 0 && rate > 0 ? Math.round(o.behind / rate) : null, drain_per_s: rate, lag_s: this.lagSeconds(o, now) };
      }),
      spool: facts.spool ? { ...facts.spool, oldest_unwritten_s: this.oldestAge(facts.outputs, now) } : null,
      devices: devicePage(v, this.opts.devices.rows(), stale, this.opts.pageSize ?? 50, now),
      bad: this.opts.bad.latest().slice(0, 20),
      ...(v.tail && { tail: { filter: v.tail.text, lines: tail, dropped } }),
    };
  }

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
  private lagSeconds(o: Output, now: number): number | null {
    if (o.behind <= 0) return 0;
    const u = this.unwritten.get(o.id);
    return u === undefined ? null : Math.max(0, Math.round((now - u.atMs) / 1000));
  }

  /** The age of the oldest message some output has not written (the slowest output's), s; 0 when none, null when unknown. */
  private oldestAge(outputs: readonly Output[], now: number): number | null {
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
