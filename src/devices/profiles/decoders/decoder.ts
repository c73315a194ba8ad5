/**
 * The shape of a format decoder: a name that profiles use (`decode: { decoder: NAME }`),
 * a zod schema for its `params` (validated when profiles load, errors with file:line:key),
 * and a factory that compiles the params into a pure function of one message.
 */
import type { z } from 'zod';
import type { FieldType } from '../fields.js';
import type { FormatInput, FormatResult } from '../types.js';

/** A decoder compiled for one profile: records from one message. */
export type FormatFn = (input: FormatInput) => FormatResult;

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
