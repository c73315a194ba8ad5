/**
 * Tasmota telemetry (`tele/<topic>/SENSOR`): one JSON object holding `Time` (the device's
 * LOCAL time, without offset unless SetOption52 adds one), unit keys (`TempUnit`,
 * `PressureUnit`, `SpeedUnit`) and one nested object per sensor (`AM2301`, `BME280`,
 * `ENERGY`, `DS18B20-1`…).
 *
 * One record per sensor object, tagged `sensor` (the object's key) and `sensor_id` (its
 * `Id`, e.g. a DS18B20 address); top-level scalars (`"Switch1":"ON"`) form one record
 * without `sensor`. Nested objects are flattened with `_`, arrays (per-channel values of
 * multi-channel energy meters) by 1-based index: `Power: [3, 5]` → `Power_1`, `Power_2`.
 *
 * Units: `temperature_unit: C` (default) converts Fahrenheit readings (`TempUnit: "F"`) of
 * `Temperature*`, `DewPoint` and `HeatIndex` to °C (rounded to 3 decimals), so a series
 * never mixes units; `F` converts the other way; `as_sent` leaves them. `pressure_unit: hPa`
 * (default) converts `mmHg`/`inHg` values of `Pressure` and `SeaPressure`.
 *
 * Time: `time_zone: arrival` (default) ignores `Time` (the device's clock and zone are
 * unknown); `UTC`, `+01:00` or an IANA zone (`Europe/Berlin`) reads `Time` in that zone.
 */
import { z } from 'zod';
import { profileError, type FormatInput, type FormatResult, type ProfileDecodeError, type RawRecord, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { isValidZone, localTimeToNs } from './local-time.js';
import { clip, flatten, isProfileError, parseJsonObject, payloadText, setValue } from './text.js';

const TEMP_KEY = /^(?:Temperature\d*|DewPoint|HeatIndex)$/;
const PRESSURE_KEY = /^(?:Pressure|SeaPressure)$/;
const TO_HPA: Readonly<Record<string, number>> = { hPa: 1, mmHg: 1.333224, inHg: 33.863886 };

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

interface Params {
  readonly time_zone: string;
  readonly temperature_unit: 'C' | 'F' | 'as_sent';
  readonly pressure_unit: 'hPa' | 'as_sent';
}

/** What the message says of itself: its time and units (the top-level `Time`, `TempUnit`, `PressureUnit`). */
interface Header {
  readonly time: bigint | undefined;
  readonly tempUnit: string;
  readonly pFactor: number | undefined;
}

/** A key's unit class (temperature, pressure or neither), by the key without its `_n` channel suffix. */
const NONE = 0;
const TEMP = 1;
const PRESSURE = 2;
const MAX_KEY_CLASSES = 4096;

function keyClass(classes: Map<string, number>, k: string): number {
  let c = classes.get(k);
  if (c === undefined) {
    const key = k.replace(/_\d+$/, '');
    c = TEMP_KEY.test(key) ? TEMP : PRESSURE_KEY.test(key) ? PRESSURE : NONE;
    if (classes.size >= MAX_KEY_CLASSES) classes.clear();
    classes.set(k, c);
  }
  return c;
}

/** The decoder's work after the payload was parsed: the header, unit conversions, one record per sensor object. */
class Records {
  /** Key → unit class: a device sends the same keys in every message. */
  private readonly classes = new Map<string, number>();

  constructor(private readonly p: Params) {}

  /** The header from the top-level values (`undefined`: absent; `null`: JSON null), or why not. */
  header(time: unknown, tempUnitValue: unknown, pressUnitValue: unknown): Header | ProfileDecodeError {
    const p = this.p;
    let t: bigint | undefined;
    if (p.time_zone !== 'arrival' && time !== undefined) {
      t = typeof time === 'string' ? localTimeToNs(time, p.time_zone) : undefined;
      if (t === undefined) return profileError('invalid_timestamp', `"Time": ${clip(JSON.stringify(time))} is not a date-time such as 2024-01-15T12:34:56`);
    }
    const tempUnit = typeof tempUnitValue === 'string' ? tempUnitValue : 'C';
    const pressUnit = typeof pressUnitValue === 'string' ? pressUnitValue : 'hPa';
    if (p.temperature_unit !== 'as_sent' && tempUnit !== 'C' && tempUnit !== 'F')
      return profileError('wrong_type', `"TempUnit": unknown unit "${clip(tempUnit, 10)}"`);
    const pFactor = TO_HPA[pressUnit];
    if (p.pressure_unit !== 'as_sent' && pFactor === undefined)
      return profileError('wrong_type', `"PressureUnit": unknown unit "${clip(pressUnit, 10)}" (hPa, mmHg, inHg)`);
    return { time: t, tempUnit, pFactor };
  }

  /** The record of one sensor object's flattened values (its `Id` becomes the `sensor_id` tag). */
  sensor(values: Record<string, RawValue>, key: string, h: Header): RawRecord {
    const tags: Record<string, string> = { sensor: key };
    if (typeof values.Id === 'string' || typeof values.Id === 'number') tags.sensor_id = String(values.Id);
    delete values.Id;
    this.convert(values, h);
    return h.time !== undefined ? { values, tags, time: h.time } : { values, tags };
  }

  /** The record of the top-level values. */
  top(values: Record<string, RawValue>, h: Header): RawRecord {
    this.convert(values, h);
    return h.time !== undefined ? { values, time: h.time } : { values };
  }

  /** Whether the message's values need converting to the configured units. */
  converts(h: Header): boolean {
    const p = this.p;
    return (p.temperature_unit !== 'as_sent' && h.tempUnit !== p.temperature_unit) || (p.pressure_unit !== 'as_sent' && h.pFactor !== 1);
  }

  /** A number under key `k` in the configured unit. */
  converted(k: string, v: number, h: Header): number {
    const p = this.p;
    const c = keyClass(this.classes, k);
    if (c === TEMP && p.temperature_unit !== 'as_sent' && h.tempUnit !== p.temperature_unit)
      return round3(p.temperature_unit === 'C' ? ((v - 32) * 5) / 9 : (v * 9) / 5 + 32);
    if (c === PRESSURE && p.pressure_unit !== 'as_sent' && h.pFactor !== 1) return round3(v * (h.pFactor as number));
    return v;
  }

  private convert(values: Record<string, RawValue>, h: Header): void {
    if (!this.converts(h)) return;
    for (const k in values) {
      const v = values[k];
      if (typeof v === 'number') values[k] = this.converted(k, v, h);
    }
  }
}

/** JSON.parse, then each top-level entry flattened. */
function parsed(r: Records, payload: Buffer): FormatResult {
  const text = payloadText(payload);
  if (isProfileError(text)) return text;
  const obj = parseJsonObject(text);
  if (isProfileError(obj)) return obj;
  const h = r.header(obj.Time, obj.TempUnit, obj.PressureUnit);
  if (isProfileError(h)) return h;
  const records: RawRecord[] = [];
  const top: Record<string, RawValue> = {};
  for (const key in obj) {
    const v = obj[key];
    if (key === 'Time' || key.endsWith('Unit') || v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const values: Record<string, RawValue> = {};
      const e = flatten(v as object, values, '_', undefined, 1);
      if (e !== undefined) return e;
      records.push(r.sensor(values, key, h));
    } else if (typeof v === 'object') {
      const e = flatten(v as object, top, '_', key, 1);
      if (e !== undefined) return e;
    } else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
      setValue(top, key, v);
    }
  }
  if (Object.keys(top).length > 0) records.push(r.top(top, h));
  if (records.length === 0) return profileError('no_fields', 'no sensor values in the message');
  return records;
}

export const tasmota = defineDecoder({
  name: 'tasmota',
  description: 'Tasmota tele/<topic>/SENSOR JSON: one reading per sensor object, local Time, TempUnit/PressureUnit',
  transport: 'mqtt',
  tags: ['sensor', 'sensor_id'],
  params: z
    .strictObject({
      time_zone: z
        .string()
        .default('arrival')
        .refine((z) => z === 'arrival' || isValidZone(z), 'expected arrival, UTC, an offset such as +01:00, or an IANA zone such as Europe/Berlin')
        .describe('How to read the local "Time": arrival (ignore it, default), UTC, +hh:mm, or an IANA zone.'),
      temperature_unit: z.enum(['C', 'F', 'as_sent']).default('C').describe('Convert temperatures to this unit. Default C.'),
      pressure_unit: z.enum(['hPa', 'as_sent']).default('hPa').describe('Convert pressures to hPa. Default hPa.'),
    })
    .prefault({}),
  create: (p) => {
    const r = new Records(p);
    return (input: FormatInput): FormatResult => parsed(r, input.payload);
  },
});
