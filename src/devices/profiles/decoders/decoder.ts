/**
 * The shape of a format decoder: a name that profiles use (`decode: { decoder: NAME }`),
 * a zod schema for its `params` (validated when profiles load, errors with file:line:key),
 * and a factory that compiles the params into a pure function of one message.
 */
import type { z } from 'zod';
import type { FieldType } from '../fields.js';
import type { FormatInput, FormatResult, ProfileDecodeError, RawValue } from '../types.js';

/**
 * A decoder compiled for one profile: records from one message. It may also have a way
 * that skips the records (`into`), which writes each record's values straight into the
 * readings; it must give the readings and errors that the records would give.
 */
export type FormatFn = ((input: FormatInput) => FormatResult) & {
  /**
   * Writes the records of `payload` into `sink`, or declines: false leaves the message to
   * the function itself (a payload this way does not read exactly as that one, e.g. one
   * that needs JSON.parse). True: the message is decoded, its readings or its error (`sink.fail`)
   * are in the sink. Within one record, no two values may have the same name.
   */
  readonly into?: (payload: Buffer, sink: RecordSink) => boolean;
};

/**
 * Where `FormatFn.into` writes a message's records: `begin()`, its values, `end()`, per
 * record, in the order the records would have. A method that returns false has failed the
 * message (a value that does not fit its declaration): the decoder stops and returns true.
 */
export interface RecordSink {
  begin(): void;
  /** One value of the record, under the name the decoder gives it (what `RawRecord.values` would hold). */
  value(name: string, raw: RawValue): boolean;
  /**
   * Ends the record: its tags as values of the decoder's `tags`, in that order (undefined:
   * absent, and no tags at all), and its event time (undefined: none in the payload).
   * The array may be reused by the decoder once this returns.
   */
  end(tags: readonly (string | undefined)[] | undefined, time: bigint | undefined): boolean;
  /** The message is bad: this is why (the decoder then returns true). */
  fail(e: ProfileDecodeError): void;
}

/** What a decoder may know about the profile it serves. */
export interface DecoderContext {
  /** Declared fields by source name (`from`), with their type: text formats pass these on as text for the field layer to type. */
  readonly declared: ReadonlyMap<string, FieldType>;
}

export interface FormatDecoderDef {
  readonly name: string;
  /** One line for `edgeflux devices show` and the README. */
  readonly description: string;
  /** Where its messages come from; a profile's match must agree. */
  readonly transport: 'mqtt' | 'serial' | 'any';
  /** Tag keys the decoder may set on its records (usable in a profile's measurement template). */
  readonly tags: readonly string[];
  /** Params schema; its output is what `create` gets. */
  readonly params: z.ZodType;
  create(params: unknown, ctx: DecoderContext): FormatFn;
}

/** Helper keeping each decoder's params typed inside its own file. */
export function defineDecoder<S extends z.ZodType>(def: {
  name: string;
  description: string;
  transport: 'mqtt' | 'serial' | 'any';
  tags?: readonly string[];
  params: S;
  create: (params: z.output<S>, ctx: DecoderContext) => FormatFn;
}): FormatDecoderDef {
  return { tags: [], ...def, create: (p: unknown, ctx: DecoderContext) => def.create(p as z.output<S>, ctx) };
}
