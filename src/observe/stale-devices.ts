/**
 * Per-device last-seen and stale detection. A device (the value of a reading's `device`
 * tag, or whatever tag is configured) is stale when it has been silent for longer than
 * max(expected interval × factor, minSilence). Its expected interval is, first found:
 * the one given with `seen()` (from its profile), the one it was configured with, the
 * one learned from its own traffic, or `defaultIntervalMs`; a device with none of these
 * is tracked but never judged.
 * Learning: gaps shorter than `minGapMs` are one burst (a device that sends climate and
 * battery in the same second), longer gaps feed an exponential moving average once
 * `learnSamples` of them were seen; the gap that ends a stale period is not learned.
 * Going stale: one warning, the `stale` flag (for metrics) and a `device_status` reading
 * (online=false); coming back: one info line and a `device_status` reading (online=true).
 * Bounded: at most `maxDevices` (the least recently seen, to the second, is forgotten
 * first), and devices silent for `forgetAfterMs` are forgotten.
 */
import type { Reading } from '../types.js';
import type { Logger } from './logger.js';

export const DEVICE_STATUS_MEASUREMENT = 'device_status';

export interface StaleDevicesOptions {
  readonly logger: Logger;
  /** Receives `device_status` readings (the daemon routes them to the outputs). */
  readonly onStatus?: (reading: Reading) => void;
  /** The tag naming the device. Default "device". */
  readonly tag?: string;
  readonly factor?: number;
  readonly minSilenceMs?: number;
  readonly defaultIntervalMs?: number;
  /** Expected intervals of named devices (from config). */
  readonly intervals?: Readonly<Record<string, number>>;
  readonly minGapMs?: number;
  readonly learnSamples?: number;
  readonly checkEveryMs?: number;
  readonly maxDevices?: number;
  readonly forgetAfterMs?: number;
  readonly now?: () => number;
}

export interface DeviceState {
  readonly device: string;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly readings: number;
  /** The interval the device is judged by, when it has one. */
  readonly expectedIntervalMs?: number;
  readonly learned: boolean;
  readonly stale: boolean;
}

interface Entry {
  firstSeen: number;
  lastSeen: number;
  /** Last time a gap started (bursts are measured from their first reading). */
  burstStart: number;
  readings: number;
  given?: number;
  avg?: number;
  samples: number;
  stale: boolean;
}

const ALPHA = 0.25;

export class StaleDevices {
  private readonly devices = new Map<string, Entry>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;
  private readonly tag: string;
  private staleCount = 0;

  constructor(private readonly opts: StaleDevicesOptions) {
    this.now = opts.now ?? Date.now;
    this.tag = opts.tag ?? 'device';
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs ?? 10_000);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.devices.size;
  }

  get stale(): number {
    return this.staleCount;
  }

  /**
   * Takes over what `previous` knows (a reload builds a new instance with the new settings):
   * every device with its last-seen, learned interval and stale flag, up to `maxDevices`
   * (the most recently seen kept).
   */
  adopt(previous: StaleDevices): void {
    const entries = [...previous.devices];
    const keep = entries.slice(Math.max(0, entries.length - (this.opts.maxDevices ?? 10_000)));
    for (const [device, e] of keep) {
      if (this.devices.get(device)?.stale) this.staleCount--;
      this.devices.delete(device);
      this.devices.set(device, { ...e });
      if (e.stale) this.staleCount++;
    }
  }

  /** Notes every device named in these readings (the hot path: one Map update per reading). */
  observe(readings: readonly Reading[]): void {
    const t = this.now();
    for (const r of readings) {
      const d = r.tags[this.tag];
      if (d !== undefined) this.seen(d, t);
    }
  }

  /** Notes that `device` sent something at `atMs`; `expectedIntervalMs` from its profile, when known. */
  seen(device: string, atMs: number = this.now(), expectedIntervalMs?: number): void {
    let e = this.devices.get(device);
    let move = true;
    if (e === undefined) {
      e = { firstSeen: atMs, lastSeen: atMs, burstStart: atMs, readings: 0, samples: 0, stale: false };
      if (this.devices.size >= (this.opts.maxDevices ?? 10_000)) this.forget(this.devices.keys().next().value as string);
    } else {
      // Map order = least recently seen first, to within a second: an entry is moved to the
      // end at most once a second, not per reading (each move churns the Map's hash table).
      move = atMs - e.lastSeen >= 1000 || e.stale;
      if (move) this.devices.delete(device);
      const gap = atMs - e.burstStart;
      if (gap >= (this.opts.minGapMs ?? 1000)) {
        if (!e.stale) {
          e.avg = e.avg === undefined ? gap : e.avg + ALPHA * (gap - e.avg);
          e.samples++;
        }
        e.burstStart = atMs;
      }
      if (e.stale) this.backOnline(device, e, atMs);
    }
    e.lastSeen = Math.max(e.lastSeen, atMs);
    e.readings++;
    if (expectedIntervalMs !== undefined) e.given = expectedIntervalMs;
    if (move) this.devices.set(device, e);
  }

  /** Marks devices silent for too long (what the timer runs). */
  check(): void {
    const t = this.now();
    const forgetAfter = this.opts.forgetAfterMs ?? 7 * 86_400_000;
    for (const [device, e] of this.devices) {
      const silent = t - e.lastSeen;
      if (silent >= forgetAfter) {
        this.forget(device);
        continue;
      }
      if (e.stale) continue;
      const expected = this.expected(device, e);
      if (expected === undefined) continue;
      const limit = Math.max(expected * (this.opts.factor ?? 3), this.opts.minSilenceMs ?? 60_000);
      if (silent > limit) this.goneStale(device, e, silent, expected);
    }
  }

  list(): DeviceState[] {
    return [...this.devices].map(([device, e]) => {
      const expected = this.expected(device, e);
      return {
        device,
        firstSeenMs: e.firstSeen,
        lastSeenMs: e.lastSeen,
        readings: e.readings,
        ...(expected !== undefined && { expectedIntervalMs: Math.round(expected) }),
        learned: e.given === undefined && this.opts.intervals?.[device] === undefined && e.samples >= (this.opts.learnSamples ?? 3),
        stale: e.stale,
      };
    });
  }

  private expected(device: string, e: Entry): number | undefined {
    if (e.given !== undefined) return e.given;
    const configured = this.opts.intervals?.[device];
    if (configured !== undefined) return configured;
    if (e.avg !== undefined && e.samples >= (this.opts.learnSamples ?? 3)) return e.avg;
    return this.opts.defaultIntervalMs;
  }

  private goneStale(device: string, e: Entry, silentMs: number, expectedMs: number): void {
    e.stale = true;
    this.staleCount++;
    this.opts.logger.warn(
      { device, last_seen: new Date(e.lastSeen).toISOString(), silent_s: Math.round(silentMs / 1000), expected_interval_s: Math.round(expectedMs / 1000) },
      `device ${device} is silent for ${fmt(silentMs)} (expected every ${fmt(expectedMs)})`,
    );
    this.emit(device, false, silentMs, expectedMs);
  }

  private backOnline(device: string, e: Entry, atMs: number): void {
    e.stale = false;
    this.staleCount--;
    const silent = atMs - e.lastSeen;
    this.opts.logger.info({ device, silent_s: Math.round(silent / 1000) }, `device ${device} is back after ${fmt(silent)}`);
    this.emit(device, true, silent, this.expected(device, e));
  }

  private emit(device: string, online: boolean, silentMs: number, expectedMs: number | undefined): void {
    if (!this.opts.onStatus) return;
    const fields: Record<string, number | boolean> = { online, silent_s: Math.round(silentMs) / 1000 };
    if (expectedMs !== undefined) fields.expected_interval_s = Math.round(expectedMs) / 1000;
    try {
      this.opts.onStatus({
        measurement: DEVICE_STATUS_MEASUREMENT,
        tags: { [this.tag]: device, check: 'stale' },
        fields,
        time: BigInt(this.now()) * 1_000_000n,
      });
    } catch (err) {
      this.opts.logger.error({ err, device }, 'stale devices: status sink failed');
    }
  }

  private forget(device: string): void {
    const e = this.devices.get(device);
    if (e?.stale) this.staleCount--;
    this.devices.delete(device);
  }
}

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}
