/**
 * The field layer of a profile: the values a format decoder found → typed fields, by the
 * profile's declarations. A field's type is fixed here, so InfluxDB never sees it flip:
 *
 * - `float`: a number, or a string holding a plain decimal number ("21.5", "-3", "1e3";
 *   Zigbee2MQTT and Homie send such strings). Not: booleans, words, "", NaN, Infinity.
 * - `integer`: a whole number (within int64), or a string of digits → bigint (`i` in line protocol).
 * - `boolean`: a boolean, "true"/"false", or whatever the field's `map` turns into one
 *   (`map: { ON: true, OFF: false }`).
 * - `string`: a string; numbers and booleans are written as their text.
 * `map` is looked up first (by the value's text) for every type. `scale` and `offset`
 * apply to numbers (value · scale + offset). A declared field absent from the message is
 * simply not written; a declared field of the wrong type rejects the message (`wrong_type`).
 *
 * Undeclared values: `other_fields: keep` (default) writes numbers as floats (bigints as
 * integers), booleans and strings as they are — a string is not sniffed into a number,
 * so a value that is sometimes "1" and sometimes "single" stays a string field —
 * named as found (or in snake_case with `field_names: snake_case`); `drop` skips them.
 * `numeric_strings: float` writes an undeclared string that is a plain decimal number
 * (as `float` reads one) as a float, for devices that send one number now as a number and
 * now as a string (Zigbee2MQTT converters): its field then keeps one type, float.
 * `drop` lists source names never written (`name`, or `prefix*`).
 */
import type { FieldValue } from '../../types.js';
import { setProp } from '../../util/own.js';
import { profileError, type ProfileDecodeError, type RawValue } from './types.js';

export type FieldType = 'float' | 'integer' | 'boolean' | 'string';

export interface FieldSpec {
  /** Name written to InfluxDB. */
  readonly name: string;
  /** Name the decoder gives the value; default `name`. */
  readonly from?: string | undefined;
  readonly type: FieldType;
  /** Documentation (shown by `edgeflux devices show`); values are not converted by it. */
  readonly unit?: string | undefined;
  readonly scale?: number | undefined;
  readonly offset?: number | undefined;
  readonly map?: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly description?: string | undefined;
}

export interface FieldOptions {
  readonly fields: readonly FieldSpec[];
  readonly other_fields: 'keep' | 'drop';
  readonly drop: readonly string[];
  readonly field_names: 'as_is' | 'snake_case';
  /** Default `keep`. */
  readonly numeric_strings?: 'keep' | 'float' | undefined;
}

export interface CompiledFields {
  /** The fields of one record, or why its values do not fit the declarations. */
  apply(values: Readonly<Record<string, RawValue>>): Record<string, FieldValue> | ProfileDecodeError;
}

const FLOAT_RE = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;
const INT_RE = /^\s*[-+]?\d+\s*$/;
const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

/** `ApparentPower` → `apparent_power`, `TVOC` → `tvoc`, `eCO2` → `e_co2`, `Temperature1` → `temperature1`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** What a value under one source name becomes (fixed by the declarations, so looked up once per name). */
type KeyPlan =
  | { readonly kind: 'drop' }
  | { readonly kind: 'declared'; readonly spec: FieldSpec }
  /** Undeclared, written under `name` unless an earlier value of the record took it; `floats`: numeric strings as floats. */
  | { readonly kind: 'other'; readonly name: string; readonly floats: boolean };

const DROP: KeyPlan = { kind: 'drop' };
/** Source names whose plan is kept (a device sends the same names in every message); past this the cache starts over. */
const MAX_PLANS = 4096;

export function compileFields(opts: FieldOptions): CompiledFields {
  const byFrom = new Map<string, FieldSpec>();
  for (const f of opts.fields) byFrom.set(f.from ?? f.name, f);
  const declaredNames = new Set(opts.fields.map((f) => f.name));
  const exact = new Set(opts.drop.filter((d) => !d.endsWith('*')));
  const prefixes = opts.drop.filter((d) => d.endsWith('*')).map((d) => d.slice(0, -1));
  const dropped = (k: string) => exact.has(k) || prefixes.some((p) => k.startsWith(p));
  const keep = opts.other_fields === 'keep';
  const rename = opts.field_names === 'snake_case' ? snakeCase : (s: string) => s;
  const floats = opts.numeric_strings === 'float';
  const plans = new Map<string, KeyPlan>();
  const planOf = (key: string): KeyPlan => {
    let plan = plans.get(key);
    if (plan === undefined) {
      const spec = byFrom.get(key);
      if (dropped(key)) plan = DROP;
      else if (spec !== undefined) plan = { kind: 'declared', spec };
      else {
        // An undeclared value never takes a declared field's name, nor an empty one.
        const name = keep ? rename(key) : '';
        plan = name === '' || declaredNames.has(name) ? DROP : { kind: 'other', name, floats };
      }
      if (plans.size >= MAX_PLANS) plans.clear();
      plans.set(key, plan);
    }
    return plan;
  };

  return {
    apply(values) {
      const out: Record<string, FieldValue> = {};
      // for-in: no array per record; the values are plain objects (own, enumerable keys only).
      for (const key in values) {
        const e = put(out, key, planOf(key), values[key] as RawValue);
        if (e !== undefined) return e;
      }
      return out;
    },
  };
}

/**
 * Writes one value into `out` as its plan says; the reason when a declared value does not
 * fit. An undeclared value whose name an earlier value took is left out (first wins).
 */
function put(out: Record<string, FieldValue>, key: string, plan: KeyPlan, raw: RawValue): ProfileDecodeError | undefined {
  if (plan.kind === 'drop') return undefined;
  if (plan.kind === 'declared') {
    const v = coerce(plan.spec, raw);
    if (typeof v === 'object' && v !== null && 'kind' in v) return v;
    setProp(out, plan.spec.name, v);
    return undefined;
  }
  const name = plan.name;
  if (Object.hasOwn(out, name)) return undefined;
  let v = raw;
  if (plan.floats && typeof raw === 'string' && FLOAT_RE.test(raw)) v = Number(raw);
  if (typeof v === 'number' && !Number.isFinite(v)) return profileError('wrong_type', `field "${key}": number out of range`);
  setProp(out, name, v);
  return undefined;
}

function describe(raw: RawValue): string {
  if (typeof raw === 'string') return `"${raw.length > 30 ? raw.slice(0, 30) + '…' : raw}"`;
  return `${typeof raw} ${String(raw)}`;
}

function wrongType(spec: FieldSpec, input: RawValue, want: string): ProfileDecodeError {
  return profileError('wrong_type', `field "${spec.name}" is ${spec.type}: got ${describe(input)}${want}`);
}

/** One declared value → its typed field value, or the reason it does not fit (no closure per call: this runs per field). */
export function coerce(spec: FieldSpec, input: RawValue): FieldValue | ProfileDecodeError {
  let raw: RawValue = input;
  if (spec.map !== undefined) {
    const k = String(raw);
    if (Object.hasOwn(spec.map, k)) raw = spec.map[k] as RawValue;
  }
  switch (spec.type) {
    case 'float': {
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'bigint') n = Number(raw);
      else if (typeof raw === 'string' && FLOAT_RE.test(raw)) n = Number(raw);
      else return wrongType(spec, input, '');
      n = n * (spec.scale ?? 1) + (spec.offset ?? 0);
      return Number.isFinite(n) ? n : wrongType(spec, input, ' (out of range)');
    }
    case 'integer': {
      let b: bigint;
      if (typeof raw === 'bigint') b = raw;
      else if (typeof raw === 'number' && Number.isInteger(raw)) b = BigInt(raw);
      else if (typeof raw === 'string' && INT_RE.test(raw)) b = BigInt(raw.trim());
      else return wrongType(spec, input, typeof raw === 'number' ? ' (not a whole number)' : '');
      if (spec.scale !== undefined || spec.offset !== undefined) {
        const n = Number(b) * (spec.scale ?? 1) + (spec.offset ?? 0);
        if (!Number.isSafeInteger(n)) return wrongType(spec, input, ` (× ${spec.scale ?? 1} + ${spec.offset ?? 0} is not a whole number)`);
        b = BigInt(n);
      }
      return b < INT64_MIN || b > INT64_MAX ? wrongType(spec, input, ' (outside int64)') : b;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      return wrongType(spec, input, spec.map === undefined ? '' : ` (map has ${Object.keys(spec.map).join(', ')})`);
    case 'string':
      return typeof raw === 'string' ? raw : String(raw);
  }
}
