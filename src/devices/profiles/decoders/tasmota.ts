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
import { profileError, type FormatResult, type RawRecord, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { isValidZone, localTimeToNs } from './local-time.js';
import { clip, flatten, isProfileError, parseJsonObject, payloadText, setValue } from './text.js';

const TEMP_KEY = /^(?:Temperature\d*|DewPoint|HeatIndex)$/;
const PRESSURE_KEY = /^(?:Pressure|SeaPressure)$/;
const TO_HPA: Readonly<Record<string, number>> = { hPa: 1, mmHg: 1.333224, inHg: 33.863886 };

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
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
  create: (p) => (input): FormatResult => {
    const text = payloadText(input.payload);
    if (isProfileError(text)) return text;
    const obj = parseJsonObject(text);
    if (isProfileError(obj)) return obj;
    let time: bigint | undefined;
    if (p.time_zone !== 'arrival' && obj.Time !== undefined) {
      const t = typeof obj.Time === 'string' ? localTimeToNs(obj.Time, p.time_zone) : undefined;
      if (t === undefined) return profileError('invalid_timestamp', `"Time": ${clip(JSON.stringify(obj.Time))} is not a date-time such as 2024-01-15T12:34:56`);
      time = t;
    }
    const tempUnit = typeof obj.TempUnit === 'string' ? obj.TempUnit : 'C';
    const pressUnit = typeof obj.PressureUnit === 'string' ? obj.PressureUnit : 'hPa';
    if (p.temperature_unit !== 'as_sent' && tempUnit !== 'C' && tempUnit !== 'F') return profileError('wrong_type', `"TempUnit": unknown unit "${clip(tempUnit, 10)}"`);
    const pFactor = TO_HPA[pressUnit];
    if (p.pressure_unit !== 'as_sent' && pFactor === undefined) return profileError('wrong_type', `"PressureUnit": unknown unit "${clip(pressUnit, 10)}" (hPa, mmHg, inHg)`);

    const convert = (values: Record<string, RawValue>): void => {
      for (const [k, v] of Object.entries(values)) {
        if (typeof v !== 'number') continue;
        const key = k.replace(/_\d+$/, '');
        if (TEMP_KEY.test(key) && p.temperature_unit !== 'as_sent' && tempUnit !== p.temperature_unit) {
          values[k] = round3(p.temperature_unit === 'C' ? ((v - 32) * 5) / 9 : (v * 9) / 5 + 32);
        } else if (PRESSURE_KEY.test(key) && p.pressure_unit !== 'as_sent' && pFactor !== 1) {
          values[k] = round3(v * (pFactor as number));
        }
      }
    };

    const records: RawRecord[] = [];
    const top: Record<string, RawValue> = {};
    for (const [key, v] of Object.entries(obj)) {
      if (key === 'Time' || key.endsWith('Unit') || v === null) continue;
      if (typeof v === 'object' && !Array.isArray(v)) {
        const values: Record<string, RawValue> = {};
        const e = flatten(v as object, values, '_', undefined, 1);
        if (e !== undefined) return e;
        const tags: Record<string, string> = { sensor: key };
        if (typeof values.Id === 'string' || typeof values.Id === 'number') tags.sensor_id = String(values.Id);
        delete values.Id;
        convert(values);
        records.push({ values, tags, ...(time !== undefined && { time }) });
      } else if (typeof v === 'object') {
        const e = flatten(v as object, top, '_', key, 1);
        if (e !== undefined) return e;
      } else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
        setValue(top, key, v);
      }
    }
    if (Object.keys(top).length > 0) {
      convert(top);
      records.push({ values: top, ...(time !== undefined && { time }) });
    }
    if (records.length === 0) return profileError('no_fields', 'no sensor values in the message');
    return records;
  },
});
