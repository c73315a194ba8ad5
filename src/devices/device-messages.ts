/**
 * Device profiles in the daemon: loading what the config names, the one decode step that
 * ingest and every drain share (profiles first, then the topic rules), and the device
 * status (availability / LWT) bookkeeping.
 *
 * Decoding is the same on both paths, so that a replay from the journal gives the same
 * points: a `DeviceStatus` always becomes its `device_status` reading. The side effects
 * of a status (count, log on change) happen only on the ingest path (`onStatus`), once
 * per message, never again on a replay.
 */
import type { Config, MqttSourceConfig } from '../config/types.js';
import { formatIssue } from '../config/issues.js';
import type { Devices } from './device-config.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import type { DecodeError, MessageData, Reading } from '../types.js';
import type { DeviceDecoders } from './profiles/device-decoders.js';
import { deviceStatusReading, isDeviceStatus, type DeviceState, type DeviceStatus } from './profiles/types.js';
import type { RuleSet } from './rules.js';
import { coveringFilters } from '../util/topic-template.js';

/**
 * Loads the profiles (shipped + `device_profiles.dirs`) and builds the decoders and serial
 * port settings; undefined when the config uses no profile. Throws listing every problem
 * (the config loader reports them with their places first, so this is a safety net).
 * The profile loader (YAML, its schema) is imported only here, when a profile is used: a
 * daemon without devices or serial ports holds neither library (~9 MB of RSS).
 */
export async function loadDevices(config: Pick<Config, 'device_profiles' | 'devices' | 'serial' | 'limits'>, logger: Logger): Promise<Devices | undefined> {
  if (config.devices.length === 0 && config.serial.length === 0) return undefined;
  const [{ loadProfiles }, { buildDevices }] = await Promise.all([import('./profiles/load.js'), import('./device-config.js')]);
  const loaded = await loadProfiles({ dirs: config.device_profiles.dirs });
  if (!loaded.ok) throw new Error(`device profiles:\n${loaded.errors.map(formatIssue).join('\n')}`);
  for (const [name, file] of loaded.catalog.replaced) logger.info({ profile: name, file }, `device profile ${name}: your ${file} replaces the shipped one`);
  return buildDevices(config, loaded.catalog, { maxPayload: config.limits.max_payload });
}

/**
 * The topic filters an MQTT source without `subscriptions` subscribes to (at QoS 1): what
 * the rules and the device profiles decode, as one covering set (a broker delivers a
 * message once per matching filter, so no filter may overlap another). The one place
 * these defaults are computed.
 */
export function defaultFilters(rules: Pick<RuleSet, 'filters'>, devices?: Pick<Devices, 'filters'>): string[] {
  return coveringFilters([...rules.filters(), ...(devices?.filters ?? [])]);
}

/** What MQTT source `config` subscribes to: its own `subscriptions`, else `defaults` (from `defaultFilters`) at QoS 1. */
export function sourceSubscriptions(config: Pick<MqttSourceConfig, 'subscriptions'>, defaults: readonly string[]): MqttSourceConfig['subscriptions'] {
  return config.subscriptions.length > 0 ? config.subscriptions : defaults.map((topic) => ({ topic, qos: 1 as const }));
}

/**
 * Decodes one message: the profile that matches it (a serial port's own, or an MQTT device
 * binding), else the topic rules. A device status becomes a `device_status` reading and
 * is passed to `onStatus` (ingest only).
 */
export function decodeDeviceMessage(
  m: MessageData,
  decoders: DeviceDecoders | undefined,
  rules: RuleSet,
  onStatus?: (s: DeviceStatus) => void,
): Reading[] | DecodeError {
  const r = decoders?.decode(m);
  if (r === undefined) return rules.decode(m);
  if (isDeviceStatus(r)) {
    onStatus?.(r);
    return [deviceStatusReading(r)];
  }
  return r as Reading[] | DecodeError; // ProfileDecodeError's reasons are all DecodeReasons
}

/**
 * Counts `device_status{profile,state}` and logs at info when a device's state changes
 * (the first status seen for a device is a change). Remembers at most `max` devices.
 */
export class DeviceStatusLog {
  private readonly last = new Map<string, DeviceState>();

  constructor(
    private readonly logger: Logger,
    private readonly counters: Counters,
    private readonly max = 10_000,
  ) {}

  observe(s: DeviceStatus): void {
    this.counters.inc('device_status', { profile: s.profile, state: s.state });
    const key = `${s.profile}\0${s.device}`;
    const prev = this.last.get(key);
    this.last.delete(key);
    this.last.set(key, s.state);
    if (this.last.size > this.max) this.last.delete(this.last.keys().next().value as string);
    if (prev === s.state) return;
    this.logger.info({ profile: s.profile, device: s.device, state: s.state, previous: prev, raw: s.raw }, `device ${s.device} (${s.profile}): ${s.state}`);
  }
}
