/**
 * The latest bad messages for the status page: a ring of at most `max` entries (topic,
 * reason, the decoder's message and a payload excerpt of ≤ 120 characters), each with a
 * one-line hint of the fix and its code (docs/troubleshooting.md). Costs nothing until a
 * message is bad.
 */
import type { DecodeReason } from '../types.js';
import { PAYLOAD_CODES, type ErrorCode } from '../util/errors.js';

export interface BadInput {
  readonly atMs: number;
  readonly source: string;
  readonly topic: string;
  readonly reason: DecodeReason;
  readonly code: ErrorCode;
  readonly message: string;
  readonly payload: string;
  readonly hint: string;
}

const EXCERPT = 120;

export class BadInputLog {
  private readonly ring: BadInput[] = [];
  private next = 0;

  constructor(private readonly max = 50) {}

  record(e: { atMs: number; source: string; topic: string; reason: DecodeReason; message: string; payload: Buffer | string }): void {
    const entry: BadInput = {
      atMs: e.atMs,
      source: e.source,
      topic: e.topic,
      reason: e.reason,
      code: PAYLOAD_CODES[e.reason],
      message: e.message,
      payload: excerpt(e.payload),
      hint: fixHint(e.reason, e.topic),
    };
    if (this.ring.length < this.max) this.ring.push(entry);
    else this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.max;
  }

  /** Newest first. */
  latest(): BadInput[] {
    const older = this.ring.slice(this.next);
    const newer = this.ring.slice(0, this.next);
    return [...older, ...newer].reverse();
  }
}

function excerpt(payload: Buffer | string): string {
  const buf = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const text = buf.subarray(0, EXCERPT * 4).toString('utf8');
  if (text.includes('\uFFFD') || buf.includes(0)) return `<${buf.length} bytes, binary>`;
  const one = text.replace(/\s+/g, ' ');
  return one.length > EXCERPT ? `${one.slice(0, EXCERPT - 1)}…` : one;
}

/** `tele/plug1/STATE` → `tele/+/STATE`: the device level (the second of three or more) as a wildcard. */
export function topicPattern(topic: string): string {
  const levels = topic.split('/');
  if (levels.length >= 3) levels[1] = '+';
  return levels.join('/');
}

/** One line saying what to change, by reason. */
export function fixHint(reason: string, topic: string): string {
  switch (reason) {
    case 'no_rule':
      return `no rule matches: add a rule for "${topicPattern(topic)}" or an ignore: entry`;
    case 'invalid_json':
    case 'not_an_object':
    case 'invalid_number':
    case 'invalid_line_protocol':
      return "the payload is not in the rule's format: check the rule's format: (json, number, line_protocol…)";
    case 'payload_too_large':
      return 'larger than limits.max_payload: raise it, or ignore the topic';
    case 'empty_payload':
      return 'an empty message (often a retained message being cleared): ignore the topic if it is expected';
    case 'wrong_type':
    case 'no_fields':
      return "no usable field: check the rule's json: keys (fields, integers, strings)";
    case 'invalid_timestamp':
      return "the time in the payload cannot be read: check the rule's json.time_key and time_unit";
    case 'checksum_mismatch':
    case 'bad_frame':
      return 'a damaged frame from the serial device: check the cable, baud rate and profile';
    case 'internal_error':
      return 'a bug in edgeflux: please report it with this message';
    default:
      return 'see README, Bad input';
  }
}
