/**
 * What device profiles produce, besides readings: device status (availability / LWT)
 * and decode errors with the reasons that framed and self-describing formats add.
 *
 * A profile's decoder result is one of
 * - `Reading[]`: typed points (possibly empty: a metadata message such as a Homie
 *   `$description` or a CSV header, or an NMEA sentence the profile ignores, was consumed
 *   and yields nothing to write);
 * - `DeviceStatus`: an availability / last-will message ("online", "offline"), which is
 *   not a measurement and must never be written as a bogus reading;
 * - `ProfileDecodeError`: the message could not be decoded (counted by reason, dead-lettered).
 */
import type { DecodeReason, FieldValue, Reading } from '../../types.js';

/**
 * Reasons beyond the core `DecodeReason` set (src/types.ts): framed binary data and
 * formats whose meaning arrives in an earlier message.
 * - `checksum_mismatch`: a frame (SDS011, PMS5003, MH-Z19B, NMEA) whose checksum is wrong.
 * - `bad_frame`: bytes that are not a frame of the expected shape: wrong start or end
 *   bytes, wrong length (truncated), garbage between frames, a malformed NMEA sentence,
 *   a CSV line with the wrong number of cells.
 * - `missing_schema`: a value whose type comes from metadata not seen yet (a Homie
 *   property before its device's `$description`, a CSV line before its header).
 */
export type ProfileDecodeReason = 'checksum_mismatch' | 'bad_frame' | 'missing_schema';

/** Every reason a device profile can report. */
export type DeviceDecodeReason = DecodeReason | ProfileDecodeReason;

export const PROFILE_DECODE_REASONS: readonly ProfileDecodeReason[] = ['checksum_mismatch', 'bad_frame', 'missing_schema'];

/** Same shape as `DecodeError` (src/types.ts), with the wider reason set. */
export interface ProfileDecodeError {
  readonly kind: 'decode_error';
  readonly reason: DeviceDecodeReason;
  readonly message: string;
}

export function profileError(reason: DeviceDecodeReason, message: string): ProfileDecodeError {
  return { kind: 'decode_error', reason, message };
}

/** `online`/`offline` for availability; Homie also reports `init` and `sleeping`. */
export type DeviceState = 'online' | 'offline' | 'init' | 'sleeping';

/**
 * A device's availability changed (MQTT last will / birth message, Homie `$state`).
 * Not a reading: the daemon logs it, counts it, keeps per-device last-seen state, and may
 * write it as a `device_status` point (see `deviceStatusReading`).
 */
export interface DeviceStatus {
  readonly kind: 'device_status';
  /** Name of the profile that decoded it. */
  readonly profile: string;
  /** The device, from the `{device}` level of the availability topic. */
  readonly device: string;
  readonly state: DeviceState;
  /** The payload value the state was read from (e.g. "Offline", "lost"). */
  readonly raw: string;
  /** Topic captures and static tags of the matching profile binding (includes `device`). */
  readonly tags: Readonly<Record<string, string>>;
  /** ns since the epoch (arrival time). */
  readonly time: bigint;
}

export function isDeviceStatus(x: unknown): x is DeviceStatus {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'device_status';
}

/** Anything a device profile decoder may return. */
export type DeviceDecodeResult = Reading[] | DeviceStatus | ProfileDecodeError;

/**
 * The `device_status` point for a status change: tags = the status's tags plus `profile`;
 * fields `state` (string) and `online` (boolean: true for online and sleeping).
 */
export function deviceStatusReading(s: DeviceStatus): Reading {
  const fields: Record<string, FieldValue> = { state: s.state, online: s.state === 'online' || s.state === 'sleeping' };
  return { measurement: 'device_status', tags: { ...s.tags, profile: s.profile, device: s.device }, fields, time: s.time };
}

/** A value as a decoder found it, before the profile's field declarations type it. */
export type RawValue = number | bigint | boolean | string;

/**
 * One group of values a format decoder found (one sensor object of a Tasmota message, one
 * component of a Shelly NotifyStatus, one NMEA sentence...). The profile's `fields`
 * declarations turn it into a Reading (names, types, scale), see fields.ts.
 */
export interface RawRecord {
  readonly values: Readonly<Record<string, RawValue>>;
  /** Tags the format itself carries (e.g. Tasmota's sensor name, Shelly's component). */
  readonly tags?: Readonly<Record<string, string>>;
  /** Event time in ns from the payload; absent = arrival time. */
  readonly time?: bigint;
}

/** Input of a format decoder: the message, already matched to a profile binding. */
export interface FormatInput {
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: bigint;
  /** Topic template captures (MQTT) of the matching binding; empty for serial. */
  readonly captures: Readonly<Record<string, string>>;
  /**
   * Per-binding memory for formats whose meaning arrives in earlier messages (Homie
   * `$description`, CSV header), keyed by the decoder (e.g. by device). Bounded by the caller.
   */
  readonly memory: BoundedMemory;
}

/** What a format decoder returns: values for the field layer (possibly none), or an error. */
export type FormatResult = RawRecord[] | ProfileDecodeError;

/** A small LRU map: `set` evicts the least recently used key beyond `max` entries. */
export class BoundedMemory {
  private readonly map = new Map<string, unknown>();

  constructor(readonly max = 1000) {}

  get<T>(key: string): T | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v as T | undefined;
  }

  set(key: string, value: unknown): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}
