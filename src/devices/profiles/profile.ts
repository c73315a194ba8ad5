/**
 * A validated device profile, and the checks beyond its schema: the decoder exists and
 * accepts the params, the decoder's transport agrees with the profile's, topic templates
 * compile (with `%var%` placeholders filled), availability topics capture `{device}`, the
 * measurement and tag templates only name captures or decoder tags, a field name keeps one type.
 */
import { compileTopicTemplate, compileValueTemplate, isTemplateError } from '../../util/topic-template.js';
import { DECODERS, type FormatDecoderDef } from './decoders/index.js';
import { zodIssueMessage, zodIssues, type IssuePath } from '../../config/yaml-places.js';
import type { ProfileSpec } from './schema.js';

export interface Profile {
  readonly spec: ProfileSpec;
  /** File it came from (for messages and `devices show`); `<builtin>` for shipped ones. */
  readonly file: string;
  /** Whether it ships with edgeflux (devices/) or comes from a user directory. */
  readonly origin: 'shipped' | 'user';
  readonly decoder: FormatDecoderDef;
  /** The decoder's params after its schema (defaults applied). */
  readonly params: unknown;
}

export interface ProfileProblem {
  readonly path: IssuePath;
  readonly message: string;
}

/** `%base%/{device}` with vars → the topic template, or an error naming the unknown var. */
export function fillVars(template: string, vars: Readonly<Record<string, string>>): string | { error: string } {
  let missing: string | undefined;
  const out = template.replace(/%([a-z_][a-z0-9_]*)%/g, (_m, name: string) => {
    if (!Object.hasOwn(vars, name)) missing ??= name;
    return vars[name] ?? '';
  });
  return missing === undefined ? out : { error: `%${missing}% is not defined in vars` };
}

/** Checks a schema-valid spec; returns the profile, or every problem with its path. */
export function checkProfile(spec: ProfileSpec, file: string, origin: Profile['origin']): Profile | ProfileProblem[] {
  const problems: ProfileProblem[] = [];
  const decoder = DECODERS.get(spec.decode.decoder);
  let params: unknown;
  if (decoder === undefined) {
    problems.push({ path: ['decode', 'decoder'], message: `unknown decoder "${spec.decode.decoder}" (one of: ${[...DECODERS.keys()].join(', ')})` });
  } else {
    const r = decoder.params.safeParse(spec.decode.params ?? {}, { error: zodIssueMessage });
    if (r.success) params = r.data;
    else problems.push(...zodIssues(r.error, ['decode', 'params']));
    const transport = spec.mqtt !== undefined ? 'mqtt' : 'serial';
    if (decoder.transport !== 'any' && decoder.transport !== transport) {
      problems.push({
        path: ['decode', 'decoder'],
        message: `decoder "${decoder.name}" reads ${decoder.transport} messages, but this is a ${transport} profile`,
      });
    }
  }

  // Names a template may use: captures common to every data topic, decoder tags, static tags.
  let captures: Set<string> | undefined;
  spec.mqtt?.topics.forEach((t, i) => {
    const names = topicNames(t, spec.vars, ['mqtt', 'topics', i], problems);
    if (names === undefined) return;
    captures = captures === undefined ? new Set(names) : new Set([...captures].filter((n) => names.includes(n)));
  });
  spec.mqtt?.availability.forEach((a, i) => {
    const names = topicNames(a.topic, spec.vars, ['mqtt', 'availability', i, 'topic'], problems);
    if (names !== undefined && !names.includes('device'))
      problems.push({ path: ['mqtt', 'availability', i, 'topic'], message: 'an availability topic needs a {device} level' });
    const states = [...a.online, ...a.offline, ...a.init, ...a.sleeping];
    if (states.length === 0)
      problems.push({ path: ['mqtt', 'availability', i], message: 'list the payloads of at least one state (online, offline, init, sleeping)' });
    const dup = states.find((s, j) => states.indexOf(s) !== j);
    if (dup !== undefined) problems.push({ path: ['mqtt', 'availability', i], message: `"${dup}" is listed for two states` });
  });
  if (spec.serial !== undefined) {
    captures = new Set(['device']);
    if (spec.serial.framing === undefined) problems.push({ path: ['serial', 'framing'], message: 'required: how the byte stream is cut into frames' });
  }
  const known = new Set([...(captures ?? []), ...(decoder?.tags ?? []), ...Object.keys(spec.tags)]);
  const checkTemplate = (source: string, path: IssuePath) => {
    const t = compileValueTemplate(source);
    if (isTemplateError(t)) return problems.push({ path, message: t.error });
    for (const n of t.names) {
      if (!known.has(n))
        problems.push({
          path,
          message: `{${n}} is neither a capture of every topic nor a tag of decoder "${spec.decode.decoder}" (known: ${[...known].join(', ') || 'none'})`,
        });
    }
    return undefined;
  };
  checkTemplate(spec.measurement, ['measurement']);
  for (const [k, v] of Object.entries(spec.tags)) checkTemplate(v, ['tags', k]);

  // One name may be read from several source names (Shelly: `tC` of a temperature
  // component, `temperature_tC` of a switch), but always with one type.
  const seen = new Map<string, number>();
  const seenFrom = new Map<string, number>();
  spec.fields.forEach((f, i) => {
    const first = seen.get(f.name);
    const firstType = first === undefined ? undefined : spec.fields[first]?.type;
    if (firstType !== undefined && firstType !== f.type)
      problems.push({ path: ['fields', i, 'type'], message: `field "${f.name}" is ${firstType} at fields[${first}]: a field keeps one type` });
    else if (first === undefined) seen.set(f.name, i);
    const from = f.from ?? f.name;
    const firstFrom = seenFrom.get(from);
    if (firstFrom !== undefined) problems.push({ path: ['fields', i, 'from'], message: `"${from}" is already read by fields[${firstFrom}]` });
    else seenFrom.set(from, i);
    if ((f.scale !== undefined || f.offset !== undefined) && (f.type === 'boolean' || f.type === 'string')) {
      problems.push({ path: ['fields', i, f.scale !== undefined ? 'scale' : 'offset'], message: `applies to numbers only, not ${f.type} fields` });
    }
  });
  if (problems.length > 0 || decoder === undefined) return problems;
  return { spec, file, origin, decoder, params };
}

function topicNames(template: string, vars: Readonly<Record<string, string>>, path: IssuePath, problems: ProfileProblem[]): readonly string[] | undefined {
  const filled = fillVars(template, vars);
  if (typeof filled !== 'string') {
    problems.push({ path, message: filled.error });
    return undefined;
  }
  const t = compileTopicTemplate(filled);
  if (isTemplateError(t)) {
    problems.push({ path, message: t.error });
    return undefined;
  }
  return t.names;
}
