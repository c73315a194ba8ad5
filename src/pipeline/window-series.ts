/**
 * The open windows of one series and the aggregation math of a window step: which of a
 * reading's fields count (one slot per field name, at most MAX_FIELDS_PER_SERIES per
 * series), which windows the reading joins, which windows a newer reading closes, and the
 * fields of a window's point. Each open window holds its lowest seq in the holdback. No
 * scheduler and no RxJS: the step (window.ts) drives it and decides what becomes of a
 * closed window.
 */
import type { FieldValue, Reading } from '../types.js';
import { FieldAggregate, type AggregateName } from './aggregate.js';
import type { Hold, Holdback, SeqReading } from './holdback.js';
import type { WindowSpec } from './window-spec.js';

/** Distinct fields aggregated per series at most; values of further fields are reported (`field_limit`) and skipped. */
export const MAX_FIELDS_PER_SERIES = 256;

/** An open window of a series. */
export interface Win {
  readonly start: bigint;
  /** `start` as a number: cheap to compare (distinct grid starts stay distinct and ordered). */
  readonly key: number;
  /** Lowest and highest seq of its readings; the lowest is held. */
  lo: number;
  hi: number;
  hold: Hold;
  /** Per field slot of the series (`SeriesWindows.names`); undefined: no value in this window. */
  readonly aggs: (FieldAggregate | undefined)[];
}

/** One series' state in a window step. */
export class SeriesWindows {
  /** Open windows, by start (and so by end). */
  readonly wins: Win[] = [];
  /** Field names by slot, in order of first appearance (usually each reading's own order). */
  readonly names: string[] = [];

  constructor(
    readonly key: string,
    readonly measurement: string,
    readonly tags: Reading['tags'],
    /** Newest event time seen; the watermark is this minus the lateness. */
    public maxTime: bigint,
    /**
     * Watermark minus period: a window starting at or before this has closed. Back from
     * gone, at least the start of the last window written as the series went idle.
     */
    public closedStart: bigint,
    /** Back from gone, until the watermark passes it: `closedStart` as it came back (the replay ledger saves it). */
    public floor: bigint | undefined,
    /** After a restart: windows (start → hi seq) written by the run before, whose readings up to hi are skipped. */
    public written: Map<number, number> | undefined,
  ) {}
}

/** Adds readings to a series' windows and makes their points, for one window step. */
export class WindowAggregator {
  // The reading's field slots and values, found once and used for each of its windows.
  private readonly slots: number[] = [];
  private readonly values: FieldValue[] = [];
  /** How many of `slots` and `values` the last `collect` filled. */
  private count = 0;

  constructor(
    private readonly spec: WindowSpec,
    private readonly holdback: Holdback,
  ) {}

  /**
   * Adds reading `t` of series `s` to every window that holds it and is not closed,
   * opening the windows it is the first for; `lastStart` is the latest of them
   * (`spec.startOf`), which the caller checked is open. Skips a window the run before a
   * restart wrote with this reading (`s.written`). Returns how many of the reading's
   * fields were left out because the series has MAX_FIELDS_PER_SERIES already.
   */
  add(s: SeriesWindows, t: SeqReading, lastStart: bigint): number {
    const skipped = this.collect(s, t.reading.fields);
    const n = this.count;
    const written = s.written;
    if (this.spec.tumbling) {
      if (written === undefined || !isWritten(written, lastStart, t.seq)) this.addTo(this.windowAt(s, lastStart, t.seq), t, n);
    } else {
      const { everyNs, periodNs } = this.spec;
      const before = t.reading.time - periodNs; // windows starting at or before this end before the reading
      for (let start = lastStart; start > before && start > s.closedStart; start -= everyNs) {
        if (written === undefined || !isWritten(written, start, t.seq)) this.addTo(this.windowAt(s, start, t.seq), t, n);
      }
    }
    return skipped;
  }

  /**
   * A reading of `s` at event time `time` was taken: when it is the newest, the watermark
   * moves, and every window it closed is handed to `close` (oldest first), then dropped.
   */
  advance(s: SeriesWindows, time: bigint, close: (s: SeriesWindows, w: Win) => void): void {
    if (time <= s.maxTime) return;
    s.maxTime = time;
    const closed = time - this.spec.latePlusPeriodNs;
    if (closed <= s.closedStart) return;
    s.closedStart = closed;
    s.floor = undefined;
    const wins = s.wins;
    let n = 0;
    while (n < wins.length && (wins[n] as Win).start <= closed) close(s, wins[n++] as Win);
    if (n > 0) wins.splice(0, n);
    if (s.written !== undefined) forgetClosed(s, s.written, Number(closed));
  }

  /** The fields of window `w`'s point: `<field>_<aggregate>` for each aggregate with a value; undefined when none has one. */
  fields(s: SeriesWindows, w: Win): Record<string, FieldValue> | undefined {
    const { aggregates } = this.spec;
    const fields: Record<string, FieldValue> = {};
    let any = false;
    for (let slot = 0; slot < w.aggs.length; slot++) {
      const acc = w.aggs[slot];
      if (acc === undefined) continue;
      const name = s.names[slot] as string;
      for (let i = 0; i < aggregates.length; i++) {
        const v = acc.value(aggregates[i] as AggregateName);
        if (v !== undefined) {
          fields[this.spec.outName(name, i)] = v;
          any = true;
        }
      }
    }
    return any ? fields : undefined;
  }

  /** Finds the slots of the fields aggregated (`slots`, `values`, `count`); returns how many were left out. */
  private collect(s: SeriesWindows, fields: Reading['fields']): number {
    const only = this.spec.only;
    const names = s.names;
    const slots = this.slots;
    const values = this.values;
    let n = 0;
    let skipped = 0;
    for (const name in fields) {
      if (only !== undefined && !only.has(name)) continue;
      let slot = names[n] === name ? n : names.indexOf(name);
      if (slot < 0) {
        if (names.length >= MAX_FIELDS_PER_SERIES) {
          skipped++;
          continue;
        }
        slot = names.push(name) - 1;
      }
      slots[n] = slot;
      values[n++] = fields[name] as FieldValue;
    }
    this.count = n;
    return skipped;
  }

  /** The open window of `s` starting at `start`, opened (holding `seq`) if there is none yet. */
  private windowAt(s: SeriesWindows, start: bigint, seq: number): Win {
    const wins = s.wins;
    const key = Number(start);
    let i = wins.length - 1;
    while (i >= 0 && (wins[i] as Win).key > key) i--;
    if (i >= 0 && (wins[i] as Win).key === key) return wins[i] as Win;
    const w: Win = { start, key, lo: seq, hi: seq, hold: this.holdback.hold(seq), aggs: [] };
    wins.splice(i + 1, 0, w);
    return w;
  }

  /** Adds the `n` collected values of `t` to `w`, holding `t`'s seq instead when it is the window's lowest. */
  private addTo(w: Win, t: SeqReading, n: number): void {
    if (t.seq < w.lo) {
      const old = w.hold;
      w.hold = this.holdback.hold(t.seq);
      this.holdback.release(old);
      w.lo = t.seq;
    }
    if (t.seq > w.hi) w.hi = t.seq;
    const time = t.reading.time;
    const aggs = w.aggs;
    const { slots, values } = this;
    for (let i = 0; i < n; i++) {
      const slot = slots[i] as number;
      let acc = aggs[slot];
      if (acc === undefined) {
        while (aggs.length < slot) aggs.push(undefined);
        aggs[slot] = acc = new FieldAggregate(this.spec.samples);
      }
      acc.add(values[i] as FieldValue, time);
    }
  }
}

/** The reading (seq) was part of the written window starting at `start` (after a restart). */
function isWritten(written: Map<number, number>, start: bigint, seq: number): boolean {
  const hi = written.get(Number(start));
  return hi !== undefined && seq <= hi;
}

/** Written windows now closed: a later reading for them is late anyway. */
function forgetClosed(s: SeriesWindows, written: Map<number, number>, closed: number): void {
  for (const start of written.keys()) if (start <= closed) written.delete(start);
  if (written.size === 0) s.written = undefined;
}
