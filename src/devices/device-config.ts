/**
 * The device profiles against the config, once both are loaded: the checks (profile names
 * exist and fit the transport, %vars% overrides exist, serial ports get a framing, topics
 * do not shadow each other, the rules compile), and the builder of the runtime decoders.
 * The schema of `device_profiles:` and `devices:` is config/schema-devices.ts.
 */
import { resolve } from 'node:path';
import type { CheckResult, ConfigCheck } from '../config/load.js';
import type { DeviceEntryConfig } from '../config/schema-devices.js';
import { resolveSerialPort, type SerialPortConfig, type SerialPortSettings } from '../config/schema-serial.js';
import type { Path, PathIssue } from '../config/secrets.js';
import type { Config } from '../config/types.js';
import { SELF_SOURCE_ID } from '../types.js';
import { checkBindings, DeviceDecoders, type MqttBindingConfig, type SerialBindingConfig } from './profiles/device-decoders.js';
import { loadProfiles, type ProfileCatalog } from './profiles/load.js';
import { checkRules } from './rules.js';

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
      if (!Object.hasOwn(p.spec.vars, k))
        issues.push({
          path: ['devices', i, 'vars', k],
          message: `profile "${d.profile}" has no %${k}% (its vars: ${Object.keys(p.spec.vars).join(', ') || 'none'})`,
        });
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
    if (s.profile !== undefined && p === undefined)
      return issues.push({ path: ['serial', i, 'profile'], message: `unknown profile "${s.profile}" (available: ${known})` });
    if (p !== undefined && p.spec.serial === undefined)
      return issues.push({ path: ['serial', i, 'profile'], message: `profile "${p.spec.name}" is an MQTT profile: name it in devices[].profile` });
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
      return profile === undefined
        ? []
        : [{ profile, vars: d.vars, tags: d.tags, measurement: d.measurement, pipeline: d.pipeline ?? profile.spec.pipeline ?? [] }];
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
  const serialPorts = input.serial.map(
    (s) => resolveSerialPort(s, s.profile === undefined ? undefined : catalog.profiles.get(s.profile)?.spec.serial) as SerialPortSettings,
  );
  return { decoders, serialPorts, filters: decoders.filters() };
}

/**
 * The config check that needs the rules compiled and the device profiles loaded (a
 * `ConfigCheck` for config/load.ts): what the rule set refuses (e.g. a rule that an
 * earlier one always shadows), the profile files' own errors (at their file:line), then
 * `devices[]` / `serial[]` against the catalog. Profiles are loaded only when the config
 * uses or adds some.
 */
export const checkDeviceSettings: ConfigCheck = { valid: checkValidDevices, invalid: profileNameIssues };

async function checkValidDevices(c: Config): Promise<CheckResult> {
  const ruleIssues = checkRules(c.rules, c.limits).map((p) => ({ path: p.path, message: p.message }));
  if (ruleIssues.length > 0) return { issues: ruleIssues };
  if (c.devices.length === 0 && c.serial.length === 0 && c.device_profiles.dirs.length === 0) return { issues: [] };
  const loaded = await loadProfiles({ dirs: c.device_profiles.dirs });
  if (!loaded.ok) return { issues: [], placed: loaded.errors };
  const otherIds = ['broker', SELF_SOURCE_ID, ...c.mqtt.map((m) => m.id)]; // serial ids must not reuse a source id
  return { issues: checkDeviceConfig(c, loaded.catalog, otherIds) };
}

/**
 * For a config that failed the schema: the user's profile files' own errors, and
 * `devices[].profile` / `serial[].profile` names that no profile has, read from the raw
 * input (the full device checks run once the rest is valid).
 */
async function profileNameIssues(input: unknown, baseDir: string): Promise<CheckResult> {
  const raw = (input ?? {}) as { device_profiles?: { dirs?: unknown }; devices?: unknown; serial?: unknown };
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const dirs = list(raw.device_profiles?.dirs)
    .filter((d): d is string => typeof d === 'string' && d !== '')
    .map((d) => resolve(baseDir, d));
  const named = [
    ...list(raw.devices).map((d, i) => ({ path: ['devices', i, 'profile'], name: (d as { profile?: unknown } | null)?.profile })),
    ...list(raw.serial).map((s, i) => ({ path: ['serial', i, 'profile'], name: (s as { profile?: unknown } | null)?.profile })),
  ].filter((n): n is { path: (string | number)[]; name: string } => typeof n.name === 'string' && n.name !== '');
  if (dirs.length === 0 && named.length === 0) return { issues: [] };
  const loaded = await loadProfiles({ dirs });
  if (!loaded.ok) return { placed: loaded.errors, issues: [] };
  const known = [...loaded.catalog.profiles.keys()].sort().join(', ');
  const issues = named
    .filter((n) => !loaded.catalog.profiles.has(n.name))
    .map((n) => ({ path: n.path, message: `unknown profile "${n.name}" (available: ${known})` }));
  return { issues };
}
