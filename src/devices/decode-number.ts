/**
 * Plain number payloads (`21.5`, ` 21.5\n`, `-1e3`, `.5`) → one reading with one float
 * field; `true` / `false` → a boolean field. Surrounding whitespace is ignored. Rejected
 * (`invalid_number`): empty text, words, hex (`0x10`), `Infinity`, `NaN`, `1_000`, and
 * numbers beyond the float64 range (`1e400`). The reading's time is the arrival time.
 */
import { decodeError, type DecodeError, type Reading } from '../types.js';
import { setProp } from '../util/own.js';
import type { DecodeContext } from './decode-context.js';

const NUMBER_RE = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Decodes `text` into one reading whose single field is named `field` (the rule resolves
 * it: `number.field`, else the `{field}` capture, else `value`). An empty field name is
 * `no_fields` (InfluxDB has no empty field keys).
 */
export function decodeNumber(text: string, field: string, ctx: DecodeContext & { readonly measurement: string }): Reading[] | DecodeError {
  const s = text.trim();
  let v: number | boolean;
  if (s === 'true') v = true;
  else if (s === 'false') v = false;
  else {
    if (!NUMBER_RE.test(s)) {
      const shown = s.length > 40 ? s.slice(0, 40) + '…' : s;
      return decodeError('invalid_number', s === '' ? 'payload is only whitespace' : `"${shown}" is not a decimal number`);
    }
    v = Number(s);
    if (!Number.isFinite(v)) return decodeError('invalid_number', `"${s.length > 40 ? s.slice(0, 40) + '…' : s}" is outside the float64 range`);
  }
  if (field === '') return decodeError('no_fields', 'the field name (from the topic) is empty');
  const fields: Record<string, number | boolean> = {};
  setProp(fields, field, v);
  return [{ measurement: ctx.measurement, tags: ctx.tags, fields, time: ctx.receivedAt }];
}
