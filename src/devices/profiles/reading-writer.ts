/**
 * The fast way from a decoder to readings (`FormatFn.into`): the decoder hands each
 * record's values to this sink, which types them into the reading's own fields object by
 * the profile's declarations (fields.ts) and finds the record's series (series.ts). No
 * record, values or tags object is made per message: what a message costs is its readings.
 *
 * Each value's plan (drop, declared, undeclared under which name) is kept by its position
 * in the message and found again when the same name comes at the same position: a
 * device sends the same names in the same order, and the scanners hand back the same name
 * strings, so most values find their plan by one comparison of identical strings.
 *
 * One writer per binding, reused for each of its messages: decoding is synchronous.
 */
import type { FieldValue, Reading } from '../../types.js';
import type { Binding } from './bindings.js';
import type { RecordSink } from './decoders/decoder.js';
import { put, type KeyPlan } from './fields.js';
import { seriesAt, type TopicEntry } from './series.js';
import { profileError, type DeviceDecodeResult, type ProfileDecodeError, type RawValue } from './types.js';

/** Values whose plans are kept by position; past this, values look theirs up by name. */
const MAX_POSITIONS = 512;
/** `out` between messages (`start` gives each message its own array). */
const IDLE: Reading[] = [];

export class ReadingWriter implements RecordSink {
  private entry: TopicEntry | undefined;
  private captures: Readonly<Record<string, string>> = {};
  private receivedAt = 0n;
  private out: Reading[] = IDLE;
  private records = 0;
  private fields: Record<string, FieldValue> | undefined;
  private error: ProfileDecodeError | undefined;
  /** Names and plans of the last message's values, by position. */
  private readonly names: string[] = [];
  private readonly plans: KeyPlan[] = [];
  private pos = 0;

  constructor(private readonly b: Binding) {}

  /** Starts a message of `entry`'s topic (undefined: a serial port, whose series are not kept). */
  start(entry: TopicEntry | undefined, captures: Readonly<Record<string, string>>, receivedAt: bigint): void {
    this.entry = entry;
    this.captures = captures;
    this.receivedAt = receivedAt;
    this.out = [];
    this.records = 0;
    this.fields = undefined;
    this.error = undefined;
    this.pos = 0;
  }

  begin(): void {
    this.records++;
    this.fields = undefined;
  }

  value(name: string, raw: RawValue): boolean {
    const p = this.pos++;
    let plan: KeyPlan | undefined;
    if (this.names[p] === name) plan = this.plans[p] as KeyPlan;
    else {
      plan = this.b.fields.planOf(name);
      if (p < MAX_POSITIONS) {
        this.names[p] = name;
        this.plans[p] = plan;
      }
    }
    if (plan.kind === 'drop') return true;
    const e = put((this.fields ??= {}), name, plan, raw);
    if (e === undefined) return true;
    this.error = e;
    return false;
  }

  end(tags: readonly (string | undefined)[] | undefined, time: bigint | undefined): boolean {
    const fields = this.fields;
    this.fields = undefined;
    if (fields === undefined || isEmpty(fields)) return true;
    const s = seriesAt(this.b, this.entry, this.records - 1, tags, this.captures);
    if ('kind' in s) {
      this.error = s;
      return false;
    }
    const t = time !== undefined && this.b.profile.spec.time === 'payload' ? time : this.receivedAt;
    this.out.push({ measurement: s.measurement, tags: s.tags, fields, time: t });
    return true;
  }

  fail(e: ProfileDecodeError): void {
    this.error = e;
  }

  /** The message's readings, or why not. */
  finish(): DeviceDecodeResult {
    const out = this.out;
    this.out = IDLE;
    this.entry = undefined;
    if (this.error !== undefined) return this.error;
    if (out.length === 0 && this.records > 0) return profileError('no_fields', "no fields left after the profile's field declarations");
    return out;
  }
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
