/**
 * A payload's text, or undefined when it is not valid UTF-8. Decoding turns every invalid
 * sequence into U+FFFD, so a text without U+FFFD came from valid UTF-8 and needs no
 * separate validation pass; only a text holding U+FFFD (a payload's own, or a sign of
 * invalid bytes) is checked with `isUtf8`. A leading BOM is dropped.
 */
import { isUtf8 } from 'node:buffer';
import type { MessageData } from '../types.js';

export function utf8Text(payload: Buffer): string | undefined {
  const text = payload.toString('utf8');
  if (text.includes('\ufffd') && !isUtf8(payload)) return undefined;
  return withoutBom(text);
}

/** `utf8Text` of a message's payload, through the message's own `payloadUtf8` when it has one. */
export function payloadText(msg: MessageData): string | undefined {
  if (msg.payloadUtf8 === undefined) return utf8Text(msg.payload);
  const text = msg.payloadUtf8();
  if (text.includes('\ufffd') && !isUtf8(msg.payload)) return undefined; // the Buffer view only in this rare case
  return withoutBom(text);
}

function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
