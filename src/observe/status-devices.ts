/**
 * The status page's device table as one view sees it: filtered, sorted, one page of rows,
 * each with its readings per minute since the view's previous snapshot; and how a
 * reading's fields read as text (the table's values column, the live tail's lines).
 */
import type { Reading } from '../types.js';
import type { DeviceRow } from './device-table.js';

export const SORTS = ['device', 'last_seen', 'readings', 'source'] as const;
export type Sort = (typeof SORTS)[number];

/** What a view asks of the table, and what it remembers of its previous page. */
export interface DeviceQuery {
  /** Lower case; a row matches when its device, source or measurement contains it. Empty: all. */
  readonly filter: string;
  readonly sort: Sort;
  /** From 0; past the last page: the last page. */
  readonly page: number;
  /** Readings per device at the previous snapshot (rows shown only), for readings/min. */
  prev: Map<string, number>;
  /** When that was (ms); 0: never. */
  prevAt: number;
}

export interface DeviceRowView {
  readonly device: string;
  readonly source: string;
  readonly measurement: string;
  readonly last_seen: number;
  readonly readings: number;
  /** Readings per minute since the view's previous snapshot; null on its first. */
  readonly per_min: number | null;
  /** `online`, `stale`, or the device's own availability (e.g. `offline`). */
  readonly state: string;
  readonly values: string;
}

export interface DevicePage {
  /** Rows matching the filter. */
  readonly total: number;
  readonly page: number;
  readonly pages: number;
  readonly rows: readonly DeviceRowView[];
}

/** One page of `rows` for view `q` at `now`; remembers the readings of the rows shown in `q` (for the next page's per_min). */
export function devicePage(q: DeviceQuery, rows: DeviceRow[], stale: ReadonlySet<string>, pageSize: number, now: number): DevicePage {
  if (q.filter)
    rows = rows.filter(
      (r) => r.device.toLowerCase().includes(q.filter) || r.source.toLowerCase().includes(q.filter) || r.measurement.toLowerCase().includes(q.filter),
    );
  rows.sort(comparator(q.sort));
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const page = Math.min(q.page, pages - 1);
  const shown = rows.slice(page * pageSize, (page + 1) * pageSize);
  const dt = (now - q.prevAt) / 60_000;
  const per = (r: DeviceRow) => {
    const before = q.prev.get(r.device);
    return before === undefined || q.prevAt === 0 || dt <= 0 ? null : Math.round(((r.readings - before) / dt) * 10) / 10;
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
  q.prev = new Map(shown.map((r) => [r.device, r.readings]));
  q.prevAt = now;
  return { total: rows.length, page, pages, rows: out };
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

/** `climate,device=th1 temperature=21.5`: a reading as a line of the live tail. */
export function formatReading(r: Reading): string {
  const tags = Object.entries(r.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${r.measurement}${tags ? `,${tags}` : ''} ${formatFields(r.fields)}`;
}
