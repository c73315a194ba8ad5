/** Every format decoder a profile may name in `decode: { decoder: NAME }`. */
import { mhz19b, pms5003, sds011 } from './binary-frames.js';
import type { FormatDecoderDef } from './decoder.js';
import { esphome } from './esphome.js';
import { homie5 } from './homie.js';
import { json } from './json.js';
import { csv, keyValue } from './lines.js';
import { nmea } from './nmea.js';
import { shellyGen2 } from './shelly.js';
import { tasmota } from './tasmota.js';

export type { FormatDecoderDef, FormatFn, DecoderContext } from './decoder.js';

export const DECODERS: ReadonlyMap<string, FormatDecoderDef> = new Map(
  [json, tasmota, shellyGen2, esphome, homie5, sds011, pms5003, mhz19b, nmea, keyValue, csv].map((d) => [d.name, d]),
);
