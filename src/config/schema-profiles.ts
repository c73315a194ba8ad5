/**
 * Config schema of device profiles in use: where user profiles live
 * (`device_profiles.dirs`) and which MQTT device families to decode (`devices:`), plus
 * the checks that need the loaded profiles (profile names exist and fit the transport,
 * %vars% overrides exist, serial ports get a framing, topics do not shadow each other),
 * and the builder of the runtime decoders.
 *
 * ```yaml
 * device_profiles:
 *   dirs: [./devices.d]        # your own profiles (*.yaml), next to the shipped ones
 * devices:
 *   - profile: tasmota         # decode tele/+/SENSOR and tele/+/LWT from every MQTT source
 *     tags: { site: home }
 *   - profile: zigbee2mqtt
 *     vars: { base: z2m }      # Zigbee2MQTT's base_topic, if not "zigbee2mqtt"
 *     pipeline:                # instead of the profile's own steps (then the global pipeline)
 *       - deadband: { field: temperature, abs: 0.2, heartbeat: 5m }
 * ```
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Path, PathIssue } from './secrets.js';
import { pipelineSchema } from './schema-pipeline.js';
import { resolveSerialPort, type SerialPortConfig, type SerialPortSettings } from './schema-serial.js';
import { checkBindings, DeviceDecoders, type MqttBindingConfig, type SerialBindingConfig } from '../devices/profiles/device-decoders.js';
import type { ProfileCatalog } from '../devices/profiles/load.js';

/** `device_profiles:`; relative `dirs` resolve against `baseDir` (the config file's directory). */
export function createDeviceProfilesSchema(baseDir: string) {
  return z
    .strictObject({
      dirs: z
        .array(z.string().min(1).transform((d) => resolve(baseDir, d)))
        .default([])
        .describe('Directories of your own profiles (*.yaml), relative to the config file; a profile named like a shipped one replaces it.'),
    })
    .prefault({})
    .describe('Device profiles beyond the shipped ones (see `edgeflux devices list`).');
}

/** `device_profiles:` with dirs resolved against the working directory. */
export const deviceProfilesSchema = createDeviceProfilesSchema('.');

export const deviceEntrySchema = z
  .strictObject({
    profile: z.string().min(1).describe('Profile name, e.g. tasmota, zigbee2mqtt, shelly-gen2, esphome, homie5, generic-json.'),
    vars: z.record(z.string(), z.string().min(1)).default({}).describe('Overrides of the profile\'s %vars% (e.g. base: z2m).'),
    tags: z.record(z.string().min(1), z.string()).default({}).describe('Tags added to every reading of these devices.'),
    measurement: z.string().min(1).optional().describe('Measurement instead of the profile\'s ({name} templates allowed).'),
    pipeline: pipelineSchema
      .optional()
      .describe('Shaping steps for these devices\' readings instead of the profile\'s, before the global pipeline ([] = none).'),
  })
  .describe('An MQTT device family to decode with a profile, from every MQTT source (embedded broker and mqtt[]).');

export const devicesSchema = z.array(deviceEntrySchema).default([]).describe('MQTT devices decoded by profiles; checked before the topic rules.');

export type DeviceProfilesConfig = z.output<typeof deviceProfilesSchema>;
export type DeviceEntryConfig = z.output<typeof deviceEntrySchema>;

export interface DevicesInput {
  readonly devices: readonly DeviceEntryConfig[];
  readonly serial: readonly SerialPortConfig[];
}

/**
 * Every problem of `devices[]` and `serial[]` once the profiles are loaded, with config
 * paths (e.g. `devices[1].profile`). `otherSourceIds`: ids of the MQTT sources and
 * `broker`, which serial port ids must not reuse (messages are told apart by source id).
 */
export function checkDeviceConfig(input: DevicesInput, catalog: ProfileCatalog, otherSourceIds: readonly string[] = []): PathIssue[] {
  const issues: PathIssue[] = [];
  const known = [...catalog.profiles.keys()].sort().join(', ');
  input.devices.forEach((d, i) => {
    const p = catalog.profiles.get(d.profile);
    if (p === undefined) return issues.push({ path: ['devices', i, 'profile'], message: `unknown profile "${d.profile}" (available: ${known})` });
    for (const k of Object.keys(d.vars)) {
      if (!Object.hasOwn(p.spec.vars, k)) issues.push({ path: ['devices', i, 'vars', k], message: `profile "${d.profile}" has no %${k}% (its vars: ${Object.keys(p.spec.vars).join(', ') || 'none'})` });
    }
    return undefined;
  });
  const ids = new Map<string, number>();
  input.serial.forEach((s, i) => {
    const first = ids.get(s.id);
    if (first !== undefined) issues.push({ path: ['serial', i, 'id'], message: `duplicate serial port id "${s.id}" (first at serial[${first}])` });
    else if (otherSourceIds.includes(s.id)) issues.push({ path: ['serial', i, 'id'], message: `"${s.id}" is already the id of another source` });
    else ids.set(s.id, i);
    const p = s.profile === undefined ? undefined : catalog.profiles.get(s.profile);
    if (s.profile === undefined && s.pipeline !== undefined) {
      issues.push({ path: ['serial', i, 'pipeline'], message: 'a port without a profile is decoded by the rules: set the pipeline on its rule' });
    }
    if (s.profile !== undefined && p === undefined) return issues.push({ path: ['serial', i, 'profile'], message: `unknown profile "${s.profile}" (available: ${known})` });
    if (p !== undefined && p.spec.serial === undefined) return issues.push({ path: ['serial', i, 'profile'], message: `profile "${p.spec.name}" is an MQTT profile: name it in devices[].profile` });
    const r = resolveSerialPort(s, p?.spec.serial);
    if ('error' in r) issues.push({ path: ['serial', i, r.error.startsWith('reconnect') ? 'reconnect' : 'framing'], message: r.error });
    return undefined;
  });
  if (issues.length === 0) {
    for (const p of checkBindings(bindingOptions(input, catalog))) issues.push({ path: p.path as Path, message: p.message });
  }
  return issues;
}

/** The bindings in config order, each with its effective steps: the entry's own pipeline, else its profile's, else none. */
function bindingOptions(input: DevicesInput, catalog: ProfileCatalog): { mqtt: MqttBindingConfig[]; serial: SerialBindingConfig[] } {
  return {
    mqtt: input.devices.flatMap((d) => {
      const profile = catalog.profiles.get(d.profile);
      return profile === undefined ? [] : [{ profile, vars: d.vars, tags: d.tags, measurement: d.measurement, pipeline: d.pipeline ?? profile.spec.pipeline ?? [] }];
    }),
    serial: input.serial.flatMap((s) => {
      const profile = s.profile === undefined ? undefined : catalog.profiles.get(s.profile);
      return profile === undefined ? [] : [{ port: s.id, profile, tags: s.tags, pipeline: s.pipeline ?? profile.spec.pipeline ?? [] }];
    }),
  };
}

export interface Devices {
  /**
   * Decodes messages of profiled MQTT devices and serial ports; `undefined` for others
   * (rules). For shaping, `bindingFor()` names the binding a message decodes with and
   * `pipelines` holds each binding's steps (createShaping's `devices`).
   */
  readonly decoders: DeviceDecoders;
  /** Serial ports with their profiles' defaults applied, for `new SerialSource({ settings })`. */
  readonly serialPorts: readonly SerialPortSettings[];
  /** MQTT filters the devices need (add them to each MQTT source's subscriptions). */
  readonly filters: readonly string[];
}

/** Builds the runtime from a checked config; throws listing the problems if `checkDeviceConfig` finds any. */
export function buildDevices(input: DevicesInput, catalog: ProfileCatalog, opts: { maxPayload?: number } = {}): Devices {
  const issues = checkDeviceConfig(input, catalog);
  if (issues.length > 0) throw new Error(`invalid devices: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const decoders = new DeviceDecoders({ ...bindingOptions(input, catalog), ...(opts.maxPayload !== undefined && { maxPayload: opts.maxPayload }) });
  const serialPorts = input.serial.map((s) => resolveSerialPort(s, s.profile === undefined ? undefined : catalog.profiles.get(s.profile)?.spec.serial) as SerialPortSettings);
  return { decoders, serialPorts, filters: decoders.filters() };
}
