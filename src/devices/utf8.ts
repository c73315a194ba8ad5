/** A payload's text, or undefined when it is not valid UTF-8 (`isUtf8`). A leading BOM is dropped. */
import { isUtf8 } from 'node:buffer';

/** The text of `payload[start, end)` (see the module comment). */
export function utf8Text(payload: Buffer, start = 0, end = payload.length): string | undefined {
  if (!isUtf8(payload.subarray(start, end))) return undefined;
  const text = payload.toString('utf8', start, end);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
