/**
 * The literal text of JSON numbers, which JSON.parse rounds to the nearest double: integer
 * fields beyond 2^53 and timestamps are read exactly from it (decode-json.ts).
 */
import { significantDigits } from './timestamps.js';

/**
 * The number literal after the key `needle` (a JSON string, quotes included) when the
 * payload holds that string exactly once and it is followed by `:` and a number that
 * JSON.parse read as `v`; else undefined (the caller scans the whole payload). Unique, so
 * it is the top-level key the value came from: no nested key or string value can be it.
 */
export function uniqueKeyLiteral(text: string, needle: string, v: unknown): string | undefined {
  const at = text.indexOf(needle);
  if (at < 0 || text.indexOf(needle, at + 1) >= 0) return undefined;
  let i = at + needle.length;
  while (isJsonSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i++) !== 58 /* : */) return undefined;
  while (isJsonSpace(text.charCodeAt(i))) i++;
  const start = i;
  for (let ch = text.charCodeAt(i); (ch >= 48 && ch <= 57) || ch === 45 || ch === 43 || ch === 46 || ch === 101 || ch === 69; ch = text.charCodeAt(++i));
  const lit = text.slice(start, i);
  return lit !== '' && Number(lit) === v ? lit : undefined;
}

function isJsonSpace(ch: number): boolean {
  return ch === 32 || ch === 10 || ch === 13 || ch === 9;
}

interface Frame {
  readonly name: string | undefined;
  readonly arr: boolean;
  idx: number;
  key: string | undefined;
}

/**
 * The literal text of every number with more than 15 significant digits in a JSON
 * document that JSON.parse already accepted, by flattened name (`sep`-joined path):
 * JSON.parse rounds such numbers to the nearest double. Only run when one is needed exactly.
 */
export function exactNumberLiterals(text: string, sep: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: Frame[] = [];
  const child = (f: Frame): string => (f.name === undefined ? '' : f.name + sep) + (f.arr ? String(f.idx) : (f.key ?? ''));
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    const top = stack[stack.length - 1];
    if (ch === '{' || ch === '[') stack.push({ name: top === undefined ? undefined : child(top), arr: ch === '[', idx: 0, key: undefined });
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',') {
      if (top?.arr) top.idx++;
      else if (top) top.key = undefined;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top !== undefined && !top.arr && top.key === undefined) top.key = JSON.parse(text.slice(i, j + 1)) as string;
      i = j;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const lit = text.slice(i, j);
      if (top !== undefined && lit.length > 15 && significantDigits(lit) > 15) out.set(child(top), lit);
      i = j - 1;
    }
  }
  return out;
}
