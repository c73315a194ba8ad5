/**
 * Homie 5 (homieiot.github.io, convention v5): every property value is a string at
 * `homie/5/<device>/<node>/<property>`, typed by the device's `$description` (a retained
 * JSON document: `nodes.<node>.properties.<property>.datatype`, `unit`, `format`).
 *
 * The decoder remembers each device's description (per binding, bounded LRU: see
 * `BoundedMemory`); the description message itself yields no readings, an empty one
 * (the retained description cleared: device removed) forgets it. A value whose property
 * is not in a description seen so far is `missing_schema` (counted and dead-lettered).
 *
 * Datatypes: integer → integer field; float → float; boolean (`true`/`false`) → boolean;
 * duration (ISO 8601 `PT12H5M46S`) → float seconds; string, enum (checked against its
 * `format` list), color, datetime, json → string. A value of the wrong form is `wrong_type`.
 * Device attributes (`$state`, `$log`, `$alert/…`, i.e. a node id starting with `$`)
 * yield no readings; `$state` is availability (see the profile).
 * Record: `{ <property>: value }`, tagged `node`.
 */
import { z } from 'zod';
import { profileError, type FormatResult, type ProfileDecodeError, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { clip, decimalNumber, isProfileError, parseJsonObject, payloadText } from './text.js';

const DATATYPES = new Set(['integer', 'float', 'boolean', 'string', 'enum', 'color', 'datetime', 'duration', 'json']);
const DURATION_RE = /^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/;

interface Prop {
  readonly datatype: string;
  readonly format?: string | undefined;
}
type Description = ReadonlyMap<string, Prop>;

function parseDescription(obj: Record<string, unknown>): Description | ProfileDecodeError {
  const nodes = obj.nodes ?? {};
  if (typeof nodes !== 'object' || nodes === null || Array.isArray(nodes)) return profileError('wrong_type', '$description: "nodes" is not an object');
  const out = new Map<string, Prop>();
  for (const [nodeId, node] of Object.entries(nodes)) {
    const props = (node as { properties?: unknown } | null)?.properties ?? {};
    if (typeof props !== 'object' || props === null || Array.isArray(props))
      return profileError('wrong_type', `$description: nodes.${nodeId}.properties is not an object`);
    for (const [propId, prop] of Object.entries(props)) {
      const dt = (prop as { datatype?: unknown } | null)?.datatype;
      if (typeof dt !== 'string' || !DATATYPES.has(dt))
        return profileError(
          'wrong_type',
          `$description: nodes.${nodeId}.properties.${propId}.datatype ${clip(JSON.stringify(dt) ?? 'undefined')} is not a Homie datatype`,
        );
      const format = (prop as { format?: unknown }).format;
      out.set(`${nodeId}/${propId}`, { datatype: dt, format: typeof format === 'string' ? format : undefined });
    }
  }
  return out;
}

function typed(prop: Prop, s: string, where: string): RawValue | ProfileDecodeError {
  const bad = () => profileError('wrong_type', `${where} is ${prop.datatype}: got "${clip(s)}"`);
  switch (prop.datatype) {
    case 'integer':
      return /^-?\d{1,19}$/.test(s) && BigInt.asIntN(64, BigInt(s)) === BigInt(s) ? BigInt(s) : bad();
    case 'float': {
      const n = decimalNumber(s);
      return n === undefined || s.trim() !== s ? bad() : n;
    }
    case 'boolean':
      return s === 'true' ? true : s === 'false' ? false : bad();
    case 'duration': {
      const m = DURATION_RE.exec(s);
      if (m === null || s === 'PT') return bad();
      return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
    }
    case 'enum':
      return prop.format === undefined || prop.format.split(',').includes(s) ? s : bad();
    default:
      return s;
  }
}

export const homie5 = defineDecoder({
  name: 'homie5',
  description: "Homie 5 homie/5/<device>/<node>/<property> strings, typed by the device's $description",
  transport: 'mqtt',
  tags: ['node'],
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const device = input.captures.device ?? '';
      if (device.startsWith('$')) return []; // $broadcast and other non-devices
      const levels = input.topic.split('/');
      const key = `homie:${device}`;
      if (levels[levels.length - 1] === '$description') {
        if (input.payload.length === 0) {
          input.memory.delete(key);
          return [];
        }
        const text = payloadText(input.payload);
        if (isProfileError(text)) return text;
        const obj = parseJsonObject(text);
        if (isProfileError(obj)) return obj;
        const d = parseDescription(obj);
        if (isProfileError(d)) return d;
        input.memory.set(key, d);
        return [];
      }
      const node = input.captures.node ?? levels[levels.length - 2] ?? '';
      const property = input.captures.property ?? levels[levels.length - 1] ?? '';
      if (node.startsWith('$') || property.startsWith('$')) return [];
      const prop = input.memory.get<Description>(key)?.get(`${node}/${property}`);
      if (prop === undefined)
        return profileError('missing_schema', `no $description of device "${clip(device)}" with property ${clip(node)}/${clip(property)} seen yet`);
      if (input.payload.length === 0 && prop.datatype !== 'string') return profileError('empty_payload', `${node}/${property} (${prop.datatype}): empty value`);
      const text = input.payload.length === 0 ? '' : payloadText(input.payload);
      if (isProfileError(text)) return text;
      const v = typed(prop, text, `${node}/${property}`);
      if (isProfileError(v)) return v;
      return [{ values: { [property]: v }, tags: { node } }];
    },
});
