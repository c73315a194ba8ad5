/**
 * A payload's text, or undefined when it is not valid UTF-8. Decoding turns every invalid
 * sequence into U+FFFD, so a text without U+FFFD came from valid UTF-8 and needs no
 * separate validation pass; only a text holding U+FFFD (a payload's own, or a sign of
 * invalid bytes) is checked with `isUtf8`. A leading BOM is dropped.
 */
import { isUtf8 } from 'node:buffer';

/** The text of `payload[start, end)` (see the module comment). */
export function utf8Text(payload: Buffer, start = 0, end = payload.length): string | undefined {
  const text = payload.toString('utf8', start, end);
  if (text.includes('\ufffd') && !isUtf8(payload.subarray(start, end))) return undefined;
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
