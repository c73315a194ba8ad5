/**
 * What the status page lists per device: where it came from, when it was last seen, how
 * many readings it sent and its latest values. Fed with every decoded batch, so the hot
 * path costs one Map lookup and a few assignments per reading: the latest fields are kept
 * by reference (the reading's own object, never copied or formatted here).
 * Bounded: at most `maxDevices` entries (the least recently seen, to the second, is
 * forgotten first); per device one small object holding its last reading's measurement
 * and fields (≤ `limits.max_fields` values, as decoded), its last topic and its
 * availability (references, never copies), i.e. a few hundred bytes.
 *
 * A `device_status` reading (a profile's availability / last will: online, offline, ...)
 * is not a value: it sets the device's `availability` and leaves its values alone. A
 * reading after an `offline` means the device is back: availability is cleared.
 */
import type { Reading } from '../types.js';
import { DEVICE_STATUS_MEASUREMENT } from './stale-devices.js';

export interface DeviceRow {
  readonly device: string;
  readonly source: string;
  readonly measurement: string;
  readonly lastSeenMs: number;
  readonly readings: number;
  /** The latest reading's fields (numbers, booleans, strings; integers as bigint). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** The topic of its latest reading (for the units its profile declares). */
  readonly topic: string;
  /** What the device last said of itself (`online`, `offline`, `init`, `sleeping`), if it did. */
  readonly availability?: string;
}

interface Entry {
  source: string;
  measurement: string;
  lastSeen: number;
  readings: number;
  fields: Readonly<Record<string, unknown>>;
  topic: string;
  availability?: string | undefined;
}

export class DeviceTable {
  private readonly devices = new Map<string, Entry>();

  constructor(
    /** The tag naming a device (`service.stale_devices.tag`). */
    private readonly tag = 'device',
    private readonly maxDevices = 10_000,
  ) {}

  get size(): number {
    return this.devices.size;
  }

  /** Notes every device named in these readings; `source` is the source they came from. */
  observe(readings: readonly Reading[], source: string, atMs: number, topic = ''): void {
    for (const r of readings) {
      const d = r.tags[this.tag];
      if (d === undefined) continue;
      const status = r.measurement === DEVICE_STATUS_MEASUREMENT && typeof r.fields.state === 'string' ? r.fields.state : undefined;
      let e = this.devices.get(d);
      if (e === undefined) {
        if (this.devices.size >= this.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
        e = status === undefined ? { source, measurement: r.measurement, lastSeen: atMs, readings: 0, fields: r.fields, topic } : { source, measurement: '', lastSeen: atMs, readings: 0, fields: {}, topic: '' };
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
      e.source = source;
      e.measurement = r.measurement;
      e.lastSeen = atMs;
      e.readings++;
      e.fields = r.fields;
      e.topic = topic;
    }
  }

  /** Takes over another table's devices (a reload). */
  adopt(previous: DeviceTable): void {
    for (const [d, e] of previous.devices) {
      if (this.devices.size >= this.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      this.devices.set(d, { ...e });
    }
  }

  rows(): DeviceRow[] {
    return [...this.devices].map(([device, e]) => ({ device, source: e.source, measurement: e.measurement, lastSeenMs: e.lastSeen, readings: e.readings, fields: e.fields, topic: e.topic, ...(e.availability !== undefined && { availability: e.availability }) }));
  }
}
