/**
 * What the status page lists per device: where it came from, when it was last seen, how
 * many readings it sent and its latest values. Fed with every decoded batch, so the hot
 * path costs one Map lookup and a few assignments per reading: a reading is kept by
 * reference (never copied or formatted here, and its fields are not read until the page
 * asks: a line protocol reading parses them on first use).
 *
 * Which reading: while the rows are being looked at (asked for within `WATCHED_MS`), every
 * reading replaces the one kept, so an open status page shows each device's latest values.
 * While nobody looks, a device's kept reading is replaced at most every `keepEveryMs`
 * (default 5 s): a reading kept for a second (one device of 10,000 sending once a second)
 * outlives V8's young generation and is copied into the old one, and replacing it with
 * every reading made every reading of such a fleet old-generation garbage (10,000 Tasmota
 * devices at 10k messages/s spent 15-20 % of the daemon's CPU in collections; keeping no
 * reading at all measured 10-15 % less CPU per message, within noise of ±10 %).
 * A page opened after a quiet spell shows values at most `keepEveryMs` older than the
 * device's last reading for its first refresh; `lastSeen` and the count are per reading.
 * Bounded: at most `maxDevices` entries (the least recently seen, to the second, is
 * forgotten first); per device one small object holding its last reading's measurement
 * and fields (≤ `limits.max_fields` values, as decoded), the units its device profile
 * declares and its availability (references to shared objects, never copies), i.e. a few
 * hundred bytes. The units are looked up (one topic match) when a device is first seen
 * with a reading or changes source, never per reading.
 *
 * A `device_status` reading (a profile's availability / last will: online, offline, ...)
 * is not a value: it sets the device's `availability` and leaves its values alone. A
 * reading after an `offline` means the device is back: availability is cleared.
 */
import type { Reading } from '../types.js';
import { DEVICE_STATUS_MEASUREMENT } from './stale-devices.js';

/** The rows count as looked at for this long after they were asked for. */
export const WATCHED_MS = 30_000;

export interface DeviceRow {
  readonly device: string;
  readonly source: string;
  readonly measurement: string;
  readonly lastSeenMs: number;
  readonly readings: number;
  /** The latest reading's fields (numbers, booleans, strings; integers as bigint). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Field → unit, as its device profile declares them (shared with every device of the profile). */
  readonly units?: Readonly<Record<string, string>>;
  /** What the device last said of itself (`online`, `offline`, `init`, `sleeping`), if it did. */
  readonly availability?: string;
}

/** Every field is set when an entry is made (one shape, no property added later). */
interface Entry {
  source: string;
  lastSeen: number;
  readings: number;
  /** The latest reading kept (its measurement, and its `fields` are what the row shows). */
  last: Pick<Reading, 'measurement' | 'fields'>;
  /** When `last` was kept (ms). */
  keptAt: number;
  units: Readonly<Record<string, string>> | undefined;
  availability: string | undefined;
}

const NO_READING: Pick<Reading, 'measurement' | 'fields'> = Object.freeze({ measurement: '', fields: Object.freeze({}) });

export class DeviceTable {
  private readonly devices = new Map<string, Entry>();
  /** When the rows were last asked for (ms); -Infinity: never. */
  private askedAt = -Infinity;

  constructor(
    /** The tag naming a device (`service.stale_devices.tag`). */
    private readonly tag = 'device',
    private readonly maxDevices = 10_000,
    /** The units a device profile declares for messages from (source, topic). */
    private readonly unitsOf?: (source: string, topic: string) => Readonly<Record<string, string>> | undefined,
    /** While nobody looks, a device's kept reading is replaced at most this often (ms). */
    private readonly keepEveryMs = 5000,
  ) {}

  get size(): number {
    return this.devices.size;
  }

  /** Notes every device named in these readings; `source` is the source they came from. */
  observe(readings: readonly Reading[], source: string, atMs: number, topic = ''): void {
    const watched = atMs - this.askedAt < WATCHED_MS;
    for (const r of readings) {
      const d = r.tags[this.tag];
      if (d === undefined) continue;
      const status = r.measurement === DEVICE_STATUS_MEASUREMENT && typeof r.fields.state === 'string' ? r.fields.state : undefined;
      let e = this.devices.get(d);
      if (e === undefined) {
        if (this.devices.size >= this.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
        e = { source, lastSeen: atMs, readings: 0, last: status === undefined ? r : NO_READING, keptAt: atMs, units: undefined, availability: undefined };
        this.devices.set(d, e);
      } else if (atMs - e.lastSeen >= 1000) {
        // Map order = least recently seen first, to within a second (a move per reading would churn the Map).
        this.devices.delete(d);
        this.devices.set(d, e);
      }
      if (status !== undefined) {
        e.availability = status;
        continue;
      }
      if (e.availability === 'offline') e.availability = undefined;
      if (e.readings === 0 || e.source !== source) e.units = this.unitsOf?.(source, topic);
      e.source = source;
      e.lastSeen = atMs;
      e.readings++;
      if (watched || e.last === NO_READING || atMs - e.keptAt >= this.keepEveryMs) {
        e.last = r;
        e.keptAt = atMs;
      }
    }
  }

  /** Takes over another table's devices (a reload). */
  adopt(previous: DeviceTable): void {
    for (const [d, e] of previous.devices) {
      if (this.devices.size >= this.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      this.devices.set(d, { ...e });
    }
    this.askedAt = Math.max(this.askedAt, previous.askedAt);
  }

  /** The rows; `now` (ms) marks them as looked at: the readings of the next `WATCHED_MS` are all kept. */
  rows(now: number = Date.now()): DeviceRow[] {
    this.askedAt = now;
    return [...this.devices].map(([device, e]) => ({
      device,
      source: e.source,
      measurement: e.last.measurement,
      lastSeenMs: e.lastSeen,
      readings: e.readings,
      fields: e.last.fields,
      ...(e.units !== undefined && { units: e.units }),
      ...(e.availability !== undefined && { availability: e.availability }),
    }));
  }
}
