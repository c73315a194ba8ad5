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

/**
 * Per-device state, one slot of `STRIDE` numbers per device in one Float64Array (no object
 * and no boxed millisecond timestamp per device: the Map holds the slot number, a small
 * integer). Slots of forgotten devices are reused.
 */
const FIRST_SEEN = 0;
const LAST_SEEN = 1;
/** Last time a gap started (bursts are measured from their first reading). */
const BURST_START = 2;
const READINGS = 3;
/** The interval given with `seen()`; NaN: none. */
const GIVEN = 4;
/** The learned interval (a moving average of gaps), valid once `SAMPLES` > 0. */
const AVG = 5;
const SAMPLES = 6;
/** 1 when stale. */
const STALE = 7;
const STRIDE = 8;
/** Slots the first array holds; it doubles as devices come, up to `maxDevices`. */
const FIRST_SLOTS = 64;

const ALPHA = 0.25;

export class StaleDevices {
  /** Device → its slot in `state`; Map order = least recently seen first (to within a second). */
  private readonly devices = new Map<string, number>();
  private state = new Float64Array(0);
  /** Slots below this were handed out; `free` holds those let go since. */
  private used = 0;
  private readonly free: number[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;
  private readonly tag: string;
  private readonly maxDevices: number;
  private staleCount = 0;

  constructor(private readonly opts: StaleDevicesOptions) {
    this.now = opts.now ?? Date.now;
    this.tag = opts.tag ?? 'device';
    this.maxDevices = opts.maxDevices ?? 10_000;
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
    const keep = entries.slice(Math.max(0, entries.length - this.maxDevices));
    for (const [device, from] of keep) {
      let i = this.devices.get(device);
      if (i === undefined) i = this.slot();
      else {
        if (this.state[i * STRIDE + STALE] === 1) this.staleCount--;
        this.devices.delete(device);
      }
      this.state.set(previous.state.subarray(from * STRIDE, (from + 1) * STRIDE), i * STRIDE);
      this.devices.set(device, i);
      if (this.state[i * STRIDE + STALE] === 1) this.staleCount++;
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
    let i = this.devices.get(device);
    let move = true;
    let s = this.state;
    let o: number;
    if (i === undefined) {
      if (this.devices.size >= this.maxDevices) this.forget(this.devices.keys().next().value as string);
      i = this.slot();
      s = this.state;
      o = i * STRIDE;
      s[o + FIRST_SEEN] = s[o + LAST_SEEN] = s[o + BURST_START] = atMs;
      s[o + READINGS] = s[o + AVG] = s[o + SAMPLES] = s[o + STALE] = 0;
      s[o + GIVEN] = NaN;
    } else {
      o = i * STRIDE;
      const stale = s[o + STALE] === 1;
      // Map order = least recently seen first, to within a second: an entry is moved to the
      // end at most once a second, not per reading (each move churns the Map's hash table).
      move = atMs - (s[o + LAST_SEEN] as number) >= 1000 || stale;
      if (move) this.devices.delete(device);
      const gap = atMs - (s[o + BURST_START] as number);
      if (gap >= (this.opts.minGapMs ?? 1000)) {
        if (!stale) {
          const avg = s[o + AVG] as number;
          s[o + AVG] = s[o + SAMPLES] === 0 ? gap : avg + ALPHA * (gap - avg);
          s[o + SAMPLES] = (s[o + SAMPLES] as number) + 1;
        }
        s[o + BURST_START] = atMs;
      }
      if (stale) this.backOnline(device, i, atMs);
    }
    s[o + LAST_SEEN] = Math.max(s[o + LAST_SEEN] as number, atMs);
    s[o + READINGS] = (s[o + READINGS] as number) + 1;
    if (expectedIntervalMs !== undefined) s[o + GIVEN] = expectedIntervalMs;
    if (move) this.devices.set(device, i);
  }

  /** Marks devices silent for too long (what the timer runs). */
  check(): void {
    const t = this.now();
    const forgetAfter = this.opts.forgetAfterMs ?? 7 * 86_400_000;
    const s = this.state;
    for (const [device, i] of this.devices) {
      const o = i * STRIDE;
      const silent = t - (s[o + LAST_SEEN] as number);
      if (silent >= forgetAfter) {
        this.forget(device);
        continue;
      }
      if (s[o + STALE] === 1) continue;
      const expected = this.expected(device, i);
      if (expected === undefined) continue;
      const limit = Math.max(expected * (this.opts.factor ?? 3), this.opts.minSilenceMs ?? 60_000);
      if (silent > limit) this.goneStale(device, i, silent, expected);
    }
  }

  list(): DeviceState[] {
    const s = this.state;
    return [...this.devices].map(([device, i]) => {
      const o = i * STRIDE;
      const expected = this.expected(device, i);
      return {
        device,
        firstSeenMs: s[o + FIRST_SEEN] as number,
        lastSeenMs: s[o + LAST_SEEN] as number,
        readings: s[o + READINGS] as number,
        ...(expected !== undefined && { expectedIntervalMs: Math.round(expected) }),
        learned: Number.isNaN(s[o + GIVEN]) && this.opts.intervals?.[device] === undefined && (s[o + SAMPLES] as number) >= (this.opts.learnSamples ?? 3),
        stale: s[o + STALE] === 1,
      };
    });
  }

  /** A free slot, the array grown (doubled, up to `maxDevices` slots) when none is left. */
  private slot(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used * STRIDE === this.state.length) {
      const grown = new Float64Array(Math.min(Math.max(FIRST_SLOTS, this.used * 2), Math.max(this.maxDevices, this.used + 1)) * STRIDE);
      grown.set(this.state);
      this.state = grown;
    }
    return this.used++;
  }

  private expected(device: string, i: number): number | undefined {
    const s = this.state;
    const o = i * STRIDE;
    const given = s[o + GIVEN] as number;
    if (!Number.isNaN(given)) return given;
    const configured = this.opts.intervals?.[device];
    if (configured !== undefined) return configured;
    const samples = s[o + SAMPLES] as number;
    if (samples > 0 && samples >= (this.opts.learnSamples ?? 3)) return s[o + AVG];
    return this.opts.defaultIntervalMs;
  }

  private goneStale(device: string, i: number, silentMs: number, expectedMs: number): void {
    this.state[i * STRIDE + STALE] = 1;
    this.staleCount++;
    this.opts.logger.warn(
      {
        device,
        last_seen: new Date(this.state[i * STRIDE + LAST_SEEN] as number).toISOString(),
        silent_s: Math.round(silentMs / 1000),
        expected_interval_s: Math.round(expectedMs / 1000),
      },
      `device ${device} is silent for ${fmt(silentMs)} (expected every ${fmt(expectedMs)})`,
    );
    this.emit(device, false, silentMs, expectedMs);
  }

  private backOnline(device: string, i: number, atMs: number): void {
    this.state[i * STRIDE + STALE] = 0;
    this.staleCount--;
    const silent = atMs - (this.state[i * STRIDE + LAST_SEEN] as number);
    this.opts.logger.info({ device, silent_s: Math.round(silent / 1000) }, `device ${device} is back after ${fmt(silent)}`);
    this.emit(device, true, silent, this.expected(device, i));
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
    const i = this.devices.get(device);
    if (i === undefined) return;
    if (this.state[i * STRIDE + STALE] === 1) this.staleCount--;
    this.devices.delete(device);
    this.free.push(i);
  }
}

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}
