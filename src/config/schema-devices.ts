/**
 * Config schema of the device profiles in use: where user profiles live
 * (`device_profiles.dirs`) and which MQTT device families to decode (`devices:`). The
 * checks that need the loaded profiles, and the builder of the decoders, are in
 * devices/device-config.ts.
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
import { pipelineSchema } from './schema-pipeline.js';

/** `device_profiles:`; relative `dirs` resolve against `baseDir` (the config file's directory). */
export function createDeviceProfilesSchema(baseDir: string) {
  return z
    .strictObject({
      dirs: z
        .array(
          z
            .string()
            .min(1)
            .transform((d) => resolve(baseDir, d)),
        )
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
    vars: z.record(z.string(), z.string().min(1)).default({}).describe("Overrides of the profile's %vars% (e.g. base: z2m)."),
    tags: z.record(z.string().min(1), z.string()).default({}).describe('Tags added to every reading of these devices.'),
    measurement: z.string().min(1).optional().describe("Measurement instead of the profile's ({name} templates allowed)."),
    pipeline: pipelineSchema.optional().describe("Shaping steps for these devices' readings instead of the profile's, before the global pipeline ([] = none)."),
  })
  .describe('An MQTT device family to decode with a profile, from every MQTT source (embedded broker and mqtt[]).');

export const devicesSchema = z.array(deviceEntrySchema).default([]).describe('MQTT devices decoded by profiles; checked before the topic rules.');

export type DeviceProfilesConfig = z.output<typeof deviceProfilesSchema>;
export type DeviceEntryConfig = z.output<typeof deviceEntrySchema>;
