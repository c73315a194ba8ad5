/**
 * The shaped edgeflux variant (`edgeflux-shaped`): the same daemon and config as `edgeflux`
 * plus a global pipeline on every series, a deadband then a 1-minute tumbling window with
 * mean/min/max/count. It writes window points, not readings, so its steps are checked
 * differently from the raw systems':
 * - **kept up**: edgeflux received every message of the step, holds none unacknowledged
 *   (`/spool` holding 0) and its output is at the journal's head (`/spool` behind 0) within
 *   the drain limit plus CLOSE_DELAY_MS of the last publish. `behind` counts from the
 *   output's committed cursor, which an open window holds at its first reading, so it is 0
 *   only once every window of the step has closed and its point is in influxd: an
 *   end-to-end signal, not just "the daemon read everything";
 * - **accounted for**: the step's window points, summed per device (`seq_count`), hold
 *   exactly the readings published, so a pipeline that drops, doubles or never writes
 *   fails the step, and the shortfall is named per device.
 */
import { sleep } from './net.js';
import { treeCpuUs } from './procstat.js';
import { MEASUREMENT, deviceName } from './readings.js';
import type { Influxd } from './servers.js';
import type { Sut } from './systems.js';

/**
 * Each step's series are new (its `run` tag) and go quiet at its end, so their windows close
 * on the window's `idle`, not on a later reading. 1 s: well above a device's gap between
 * readings at the lowest rate (100 ms at 1000/s over 100 devices), so no window closes early.
 */
export const WINDOW_IDLE = '1s';

/**
 * What edgeflux adds by design between a series' last reading and its window point being
 * committed: the drain's stream clock trails the wall clock by 1 s (and moves every 250 ms),
 * then the window's idle (1 s), then the output batch waits up to `max_age` (1 s) for more
 * points. Allowed on top of the drain limit.
 */
export const CLOSE_DELAY_MS = 1000 + 250 + 1000 + 1000;

/** The global pipeline of the shaped variant (every series, every field). */
export const SHAPED_PIPELINE = [
  { deadband: { abs: 0.5, heartbeat: '5m' } },
  { window: { every: '1m', aggregates: ['mean', 'min', 'max', 'count'], idle: WINDOW_IDLE } },
];

export interface SpoolView {
  readonly headSeq: number;
  /** The furthest-behind output's messages behind its committed cursor. */
  readonly behind: number;
  /** Messages held unacknowledged (the journal refused them). */
  readonly holding: number;
}

export interface ProbeCounts {
  /** `messages_received` of the bench's MQTT source. */
  readonly received: number;
  /** `pipeline_rejected`, all labels (late, series limit, …). */
  readonly rejected: number;
}

/** edgeflux's own view of itself: `/spool` and `/metrics` on its health listener. */
/** Collections and their pause time (ms) by kind. */
export type GcFigures = Readonly<Record<string, { readonly count: number; readonly ms: number }>>;

/** `after` − `before`, kind by kind. */
export function gcBetween(before: GcFigures, after: GcFigures): GcFigures {
  const out: Record<string, { count: number; ms: number }> = {};
  for (const [k, a] of Object.entries(after)) out[k] = { count: a.count - (before[k]?.count ?? 0), ms: a.ms - (before[k]?.ms ?? 0) };
  return out;
}

export class EdgefluxProbe {
  constructor(
    readonly port: number,
    private readonly source: string,
  ) {}

  async spool(): Promise<SpoolView> {
    const s = (await this.get('/spool', 'json')) as { journal: { headSeq: number }; holding: number; outputs: { behind: number }[] };
    return { headSeq: s.journal.headSeq, behind: Math.max(0, ...s.outputs.map((o) => o.behind)), holding: s.holding };
  }

  async counts(): Promise<ProbeCounts> {
    const text = (await this.get('/metrics', 'text')) as string;
    let received = 0;
    let rejected = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('edgeflux_messages_received_total{') && line.includes(`source="${this.source}"`))
        received += Number(line.slice(line.lastIndexOf(' ') + 1));
      else if (line.startsWith('edgeflux_pipeline_rejected_total{')) rejected += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return { received, rejected };
  }

  /** V8's garbage collections so far by kind (minor, major, incremental, weakcb), from prom-client's nodejs_gc_duration_seconds. */
  async gc(): Promise<GcFigures> {
    const text = (await this.get('/metrics', 'text')) as string;
    const out: Record<string, { count: number; ms: number }> = {};
    for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm)) {
      const e = (out[m[2]!] ??= { count: 0, ms: 0 });
      if (m[1] === 'sum') e.ms = Number(m[3]) * 1000;
      else e.count = Number(m[3]);
    }
    return out;
  }

  private async get(path: string, as: 'json' | 'text'): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`edgeflux ${path}: HTTP ${res.status}`);
    return as === 'json' ? res.json() : res.text();
  }
}

function probeOf(sut: Sut): EdgefluxProbe {
  if (!sut.probe) throw new Error(`${sut.name}: a shaped system needs its health listener (probe)`);
  return sut.probe;
}

/** Counts before a step's first publish (outside the CPU measurement). */
export function countsBefore(sut: Sut): Promise<ProbeCounts> {
  return probeOf(sut).counts();
}

/**
 * Polls `/spool` (cheap; `/metrics` only once the spool looks caught up) until edgeflux has
 * received all `count` messages of the step and its output is at the head with nothing
 * held. Returns ms from the last publish, or undefined when it gave up: after `maxMs`, or
 * 15 s without progress (head or cursor moving, or the process tree using > 5 % of a core).
 */
export async function waitCaughtUp(sut: Sut, before: ProbeCounts, count: number, lastPublishAt: number, maxMs: number): Promise<number | undefined> {
  const probe = probeOf(sut);
  const deadline = Date.now() + maxMs;
  let prev: SpoolView | undefined;
  let cpu = treeCpuUs(sut.proc.pid);
  let lastAt = Date.now();
  let lastProgressAt = lastAt;
  while (Date.now() < deadline && !sut.proc.hasExited()) {
    const s = await probe.spool().catch(() => undefined);
    if (s && s.behind === 0 && s.holding === 0) {
      const c = await probe.counts().catch(() => undefined);
      if (c && c.received - before.received >= count) return Date.now() - lastPublishAt;
    }
    const now = Date.now();
    const cpuNow = treeCpuUs(sut.proc.pid);
    const moved = s !== undefined && prev !== undefined && (s.headSeq !== prev.headSeq || s.behind !== prev.behind);
    if (moved || cpuNow - cpu > (now - lastAt) * 50) lastProgressAt = now; // 50 µs of CPU per ms: 5 % of a core
    if (now - lastProgressAt > 15_000) return undefined;
    prev = s ?? prev;
    cpu = cpuNow;
    lastAt = now;
    await sleep(200);
  }
  return undefined;
}

export interface Accounted {
  /** Readings the step's window points account for (sum of `seq_count`). */
  readonly readings: number;
  readonly missing: number;
  /** Devices whose window points do not hold exactly their readings, named. */
  readonly examples: string[];
}

const quote = (s: string): string => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

/** Readings `0..count-1` that went to device `d` (reading `seq` goes to `seq % devices`). */
const expectedOf = (d: number, count: number, devices: number): number => (d < count ? Math.floor((count - 1 - d) / devices) + 1 : 0);

/** Sums the step's window points per device and compares with what each device was sent. */
export async function accountFor(influx: Influxd, db: string, run: string, count: number, devices: number, rejected: number, limit = 8): Promise<Accounted> {
  const json = await influx.query(`SELECT sum("seq_count") FROM "${MEASUREMENT}" WHERE "run"='${quote(run)}' GROUP BY "device"`, db);
  const series = (json.results?.[0]?.series ?? []) as { tags?: { device?: string }; values?: unknown[][] }[];
  const got = new Map<string, number>();
  for (const s of series) {
    const v = s.values?.[0]?.[1];
    if (s.tags?.device !== undefined && typeof v === 'number') got.set(s.tags.device, v);
  }
  let readings = 0;
  let missing = 0;
  const examples: string[] = [];
  for (let d = 0; d < devices; d++) {
    const name = deviceName(d, devices);
    const want = expectedOf(d, count, devices);
    const have = got.get(name) ?? 0;
    readings += have;
    missing += Math.max(0, want - have);
    if (have !== want && examples.length < limit) examples.push(`device ${name}: its window points hold ${have} of its ${want} readings`);
  }
  if (rejected > 0 && (missing > 0 || readings !== count))
    examples.push(`edgeflux counted ${rejected} readings rejected by the pipeline (pipeline_rejected) in this step`);
  return { readings, missing, examples };
}
