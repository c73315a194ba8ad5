/**
 * Shelly Gen2/Gen3 devices over MQTT (API docs, "MQTT" and "Notifications"):
 *
 * - `<prefix>/status/<component>` (status notifications): the component's status object,
 *   e.g. `status/switch:0` → `{"id":0,"output":true,"apower":12.3,"aenergy":{"total":…},
 *   "temperature":{"tC":41.2,"tF":106.2}}`. One record tagged `component` (`switch`) and
 *   `channel` (`0`; absent for `sys`, `wifi`…), values flattened with `_`.
 * - `<prefix>/events/rpc` (RPC notifications): `NotifyStatus` / `NotifyFullStatus` carry
 *   `params: { ts, "<component>:<n>": {…changed values…} }`; one record per component,
 *   event time = `ts` (seconds since the epoch, fractional). `NotifyEvent` (button pushes
 *   and the like) and other methods yield no readings.
 */
import { z } from 'zod';
import { toNs } from '../../timestamps.js';
import { profileError, type FormatResult, type RawRecord, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { clip, flatten, isProfileError, parseJsonObject, payloadText } from './text.js';

const COMPONENT_RE = /^([A-Za-z][A-Za-z0-9_]*)(?::(\d+))?$/;

function componentRecord(key: string, status: unknown, time?: bigint): RawRecord | undefined | ReturnType<typeof profileError> {
  const m = COMPONENT_RE.exec(key);
  if (m === null || typeof status !== 'object' || status === null || Array.isArray(status)) return undefined;
  const values: Record<string, RawValue> = {};
  const e = flatten(status, values, '_');
  if (e !== undefined) return e;
  const tags: Record<string, string> = { component: m[1] as string };
  if (m[2] !== undefined) tags.channel = m[2];
  return { values, tags, ...(time !== undefined && { time }) };
}

export const shellyGen2 = defineDecoder({
  name: 'shelly_gen2',
  description: 'Shelly Gen2+ <id>/status/<component>:<n> objects and events/rpc NotifyStatus with ts',
  transport: 'mqtt',
  tags: ['component', 'channel'],
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const text = payloadText(input.payload);
      if (isProfileError(text)) return text;
      const obj = parseJsonObject(text);
      if (isProfileError(obj)) return obj;
      const levels = input.topic.split('/');
      const last = levels[levels.length - 1] as string;
      if (levels[levels.length - 2] === 'events' && last === 'rpc') {
        const method = obj.method;
        if (method !== 'NotifyStatus' && method !== 'NotifyFullStatus') return [];
        const params = obj.params;
        if (typeof params !== 'object' || params === null || Array.isArray(params)) return profileError('wrong_type', `${method}: "params" is not an object`);
        const p = params as Record<string, unknown>;
        let time: bigint | undefined;
        if (p.ts !== undefined) {
          const t = toNs(p.ts, 's');
          if (typeof t === 'string') return profileError('invalid_timestamp', `${method} "params.ts": ${t}`);
          time = t;
        }
        const records: RawRecord[] = [];
        for (const [key, status] of Object.entries(p)) {
          if (key === 'ts') continue;
          const r = componentRecord(key, status, time);
          if (isProfileError(r)) return r;
          if (r !== undefined) records.push(r);
        }
        return records;
      }
      const r = componentRecord(last, obj);
      if (isProfileError(r)) return r;
      if (r === undefined) return profileError('no_rule', `"${clip(last)}" is not a Shelly component (<name> or <name>:<n>)`);
      return [r];
    },
});
