/**
 * Text lines from microcontrollers (serial framing: one line per message).
 *
 * `key_value`: Arduino-style `temp=21.5 hum=40.2` (pairs split by any of `pair_separators`,
 * key and value by `kv_separator`). Declared fields get the value's text (the field layer
 * types it); undeclared values that are plain numbers become floats; other undeclared
 * values (`nan`, `ovf`, `OK`) follow `non_numeric`: `error` (default: the line is
 * `wrong_type`, so a failed sensor read is counted, not written as a string), `string`, `drop`.
 *
 * `csv`: comma (or `delimiter`) separated values under a header. With `columns`, those
 * name the cells (a line equal to them is skipped as a reprinted header); without, a line
 * whose cells are all non-numeric is the header, remembered per port until the next
 * header (a board reset usually prints it again). A data line before any header is
 * `missing_schema`; a line with another number of cells than the header is `bad_frame`.
 * Double-quoted cells may hold the delimiter (`""` is a quote). `time_column` gives the
 * event time (`time_unit` s, ms, us, ns or iso); empty cells are left out.
 */
import { z } from 'zod';
import { toNs } from '../../timestamps.js';
import { profileError, type FormatResult, type ProfileDecodeError, type RawValue } from '../types.js';
import { defineDecoder, type DecoderContext } from './decoder.js';
import { clip, decimalNumber, isProfileError, payloadText, setValue } from './text.js';

const nonNumeric = z.enum(['error', 'string', 'drop']).default('error');

function undeclared(key: string, text: string, policy: 'error' | 'string' | 'drop', out: Record<string, RawValue>): ProfileDecodeError | undefined {
  const n = decimalNumber(text);
  if (n !== undefined) setValue(out, key, n);
  else if (policy === 'string') setValue(out, key, text);
  else if (policy === 'error')
    return profileError('wrong_type', `"${clip(key)}": "${clip(text)}" is not a number (declare the field as string, or set non_numeric)`);
  return undefined;
}

function oneLine(payload: Buffer): string | ProfileDecodeError {
  const text = payloadText(payload);
  if (isProfileError(text)) return text;
  const line = text.replace(/(?<![\r\n])[\r\n]+$/, '');
  if (line.trim() === '') return profileError('empty_payload', 'empty line');
  return line;
}

export const keyValue = defineDecoder({
  name: 'key_value',
  description: 'Arduino-style lines of key=value pairs ("temp=21.5 hum=40")',
  transport: 'any',
  params: z
    .strictObject({
      pair_separators: z.string().min(1).default(' ,;\t').describe('Characters that separate pairs. Default space, comma, semicolon, tab.'),
      kv_separator: z.string().min(1).default('=').describe('Separator between key and value. Default "=".'),
      non_numeric: nonNumeric.describe('Undeclared values that are not numbers: error (default), string, drop.'),
    })
    .prefault({}),
  create: (p, ctx: DecoderContext) => {
    const escaped = [...p.pair_separators].map((c) => c.replace(/[\\^\]-]/g, '\\$&')).join('');
    const split = new RegExp(`[${escaped}]+`);
    return (input): FormatResult => {
      const line = oneLine(input.payload);
      if (isProfileError(line)) return line;
      const values: Record<string, RawValue> = {};
      let pairs = 0;
      for (const part of line.trim().split(split)) {
        if (part === '') continue;
        const at = part.indexOf(p.kv_separator);
        if (at <= 0) return profileError('bad_frame', `"${clip(part)}" is not key${p.kv_separator}value (line "${clip(line)}")`);
        const key = part.slice(0, at);
        const text = part.slice(at + p.kv_separator.length);
        pairs++;
        if (text === '') continue;
        if (ctx.declared.has(key)) setValue(values, key, text);
        else {
          const e = undeclared(key, text, p.non_numeric, values);
          if (e !== undefined) return e;
        }
      }
      if (pairs === 0) return profileError('bad_frame', `no key${p.kv_separator}value pairs in "${clip(line)}"`);
      return [{ values }];
    };
  },
});

/** Splits one CSV line (RFC 4180 quoting, no line breaks inside quotes). */
export function splitCsv(line: string, delim: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return undefined; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i++];
      }
      if (i < line.length && !line.startsWith(delim, i)) return undefined;
    } else {
      const end = line.indexOf(delim, i);
      cell = end === -1 ? line.slice(i) : line.slice(i, end);
      i = end === -1 ? line.length : end;
    }
    cells.push(cell.trim());
    if (i >= line.length) return cells;
    i += delim.length;
  }
}

export const csv = defineDecoder({
  name: 'csv',
  description: 'CSV lines under a header line (or fixed columns); optional time column',
  transport: 'any',
  params: z
    .strictObject({
      delimiter: z.string().min(1).default(',').describe('Cell delimiter. Default ",".'),
      columns: z.array(z.string().min(1)).min(1).optional().describe('Column names; absent = learn them from the header line.'),
      time_column: z.string().min(1).optional().describe('Column holding the event time; absent = arrival time.'),
      time_unit: z.enum(['s', 'ms', 'us', 'ns', 'iso']).default('s').describe('Unit of the time column. Default s.'),
      non_numeric: nonNumeric.describe('Undeclared cells that are not numbers: error (default), string, drop.'),
    })
    .prefault({}),
  create:
    (p, ctx: DecoderContext) =>
    (input): FormatResult => {
      const line = oneLine(input.payload);
      if (isProfileError(line)) return line;
      const cells = splitCsv(line, p.delimiter);
      if (cells === undefined) return profileError('bad_frame', `unterminated or misplaced quote in "${clip(line)}"`);
      const key = `csv-header:${input.topic}`;
      let header = p.columns ?? input.memory.get<string[]>(key);
      const isHeader =
        p.columns !== undefined
          ? cells.length === p.columns.length && cells.every((c, i) => c === p.columns?.[i])
          : cells.every((c) => c !== '' && decimalNumber(c) === undefined);
      if (isHeader) {
        if (p.columns === undefined) input.memory.set(key, cells);
        return [];
      }
      if (header === undefined) return profileError('missing_schema', `CSV line before its header line: "${clip(line)}"`);
      if (cells.length !== header.length) return profileError('bad_frame', `CSV line has ${cells.length} cells, the header ${header.length}: "${clip(line)}"`);
      header = header as string[];
      const values: Record<string, RawValue> = {};
      let time: bigint | undefined;
      for (let i = 0; i < cells.length; i++) {
        const name = header[i] as string;
        const text = cells[i] as string;
        if (text === '') continue;
        if (name === p.time_column) {
          const t = toNs(text, p.time_unit);
          if (typeof t === 'string') return profileError('invalid_timestamp', `column "${name}": ${t}`);
          time = t;
        } else if (ctx.declared.has(name)) setValue(values, name, text);
        else {
          const e = undeclared(name, text, p.non_numeric, values);
          if (e !== undefined) return e;
        }
      }
      return [{ values, ...(time !== undefined && { time }) }];
    },
});
