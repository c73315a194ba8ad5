/**
 * Topic templates: MQTT topic filters whose levels may capture, e.g.
 * `sensors/{location}/{device}/{measurement}`, and the small `{name}` value templates
 * that rules use for measurements and tag values.
 *
 * A topic template is a list of levels separated by `/`. A level is a literal, `+`
 * (any one level, not captured), `{name}` (any one level, captured as `name`), or, as
 * the last level only, `#` (any number of levels, including none: `a/#` matches `a`).
 * Matching follows MQTT: `+`/`{name}` never span a `/` and match an empty level, and a
 * topic starting with `$` (e.g. `$SYS/...`) never matches a template whose first level
 * is a wildcard. Matching is a scan with `indexOf`, no regex, no split.
 */

/** A compiled topic template. */
export interface TopicTemplate {
  /** The template as written. */
  readonly template: string;
  /** The MQTT subscription filter: every `{name}` level replaced by `+`. */
  readonly filter: string;
  /** Capture names, in level order. */
  readonly names: readonly string[];
  /** Captured levels by name, or null when the topic does not match. */
  match(topic: string): Record<string, string> | null;
  /**
   * The allocation-light form of `match`: writes the captured levels into `out` at the
   * index of their name in `names` and returns true, or returns false (then `out` holds junk).
   */
  matchInto(topic: string, out: string[]): boolean;
  /** Renders a value template (`{name}` references) with captures: see `renderTemplate`. */
  render(template: string, captures: Readonly<Record<string, string>>): string;
}

/** A compiled value template such as `{device}_temp`: `{name}` references between literal parts. */
export interface ValueTemplate {
  readonly source: string;
  /** Referenced names, in order (a name may repeat). */
  readonly names: readonly string[];
  /** Literal parts: `parts[0] + v(names[0]) + parts[1] + ... + parts[names.length]`. */
  readonly parts: readonly string[];
  /** Missing captures render as the empty string. */
  render(captures: Readonly<Record<string, string>>): string;
}

export interface TemplateError {
  readonly error: string;
}

export function isTemplateError(x: unknown): x is TemplateError {
  return typeof x === 'object' && x !== null && typeof (x as { error?: unknown }).error === 'string';
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = 0;
const CAPTURE = 1;
const PLUS = 2;

export function compileTopicTemplate(template: string): TopicTemplate | TemplateError {
  if (template.length === 0) return { error: 'topic template is empty' };
  if (template.includes('\u0000')) return { error: 'topic template contains a NUL character' };
  if (Buffer.byteLength(template, 'utf8') > 65535) return { error: 'topic template is longer than 65535 bytes' };
  if (template.startsWith('$share/') || template === '$share') {
    return { error: 'rule topics match message topics: put "$share/<group>/" in the MQTT source subscriptions, not in a rule' };
  }
  const levels = template.split('/');
  const kinds: number[] = [];
  const literals: string[] = [];
  const slots: number[] = [];
  const names: string[] = [];
  let hash = false;
  for (let i = 0; i < levels.length; i++) {
    const lv = levels[i] as string;
    const where = `level ${i + 1} ("${lv}")`;
    if (lv === '#') {
      if (i !== levels.length - 1) return { error: `${where}: "#" must be the last level` };
      hash = true;
      continue;
    }
    if (lv === '+') {
      kinds.push(PLUS);
      literals.push('');
      slots.push(-1);
      continue;
    }
    if (lv.startsWith('{') && lv.endsWith('}') && lv.length >= 2) {
      const name = lv.slice(1, -1);
      if (name.length === 0) return { error: `${where}: empty capture name` };
      if (!NAME_RE.test(name)) return { error: `${where}: capture name must be letters, digits and "_", not starting with a digit` };
      if (name === '__proto__') return { error: `${where}: "__proto__" is not allowed as a capture name` };
      if (names.includes(name)) return { error: `${where}: duplicate capture name "${name}"` };
      kinds.push(CAPTURE);
      literals.push('');
      slots.push(names.length);
      names.push(name);
      continue;
    }
    if (lv.includes('#') || lv.includes('+')) return { error: `${where}: "+" and "#" must be a whole level` };
    if (lv.includes('{') || lv.includes('}')) return { error: `${where}: "{name}" must be a whole level` };
    kinds.push(LITERAL);
    literals.push(lv);
    slots.push(-1);
  }
  const filter = levels.map((lv) => (lv.startsWith('{') ? '+' : lv)).join('/');
  const count = kinds.length;
  // `#` alone, `+...` and `{x}...` do not match topics starting with `$`.
  const wildFirst = count === 0 || kinds[0] !== LITERAL;

  const matchInto = (topic: string, out: string[]): boolean => {
    if (wildFirst && topic.charCodeAt(0) === 36 /* $ */) return false;
    if (count === 0) return true; // `#`
    let pos = 0;
    for (let i = 0; i < count; i++) {
      let end = topic.indexOf('/', pos);
      if (end === -1) end = topic.length;
      const kind = kinds[i];
      if (kind === LITERAL) {
        const lit = literals[i] as string;
        if (end - pos !== lit.length || !topic.startsWith(lit, pos)) return false;
      } else if (kind === CAPTURE) {
        out[slots[i] as number] = topic.slice(pos, end);
      }
      // Last topic level: a match only if the template ends here too, or goes on with
      // a `#` alone (which matches the parent level).
      if (end === topic.length) return i === count - 1;
      pos = end + 1;
    }
    // Every template level matched and the topic has more levels.
    return hash;
  };

  return {
    template,
    filter,
    names,
    matchInto,
    match(topic: string): Record<string, string> | null {
      const out: string[] = [];
      if (!matchInto(topic, out)) return null;
      const rec: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) rec[names[i] as string] = out[i] as string;
      return rec;
    },
    render: renderTemplate,
  };
}

/**
 * Compiles a value template: `{name}` references a capture, `{{` and `}}` are literal
 * braces; any other brace is an error.
 */
export function compileValueTemplate(source: string): ValueTemplate | TemplateError {
  const parts: string[] = [];
  const names: string[] = [];
  let lit = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '{') {
      if (source[i + 1] === '{') {
        lit += '{';
        i++;
        continue;
      }
      const close = source.indexOf('}', i);
      const name = close === -1 ? '' : source.slice(i + 1, close);
      if (close === -1) return { error: `unclosed "{" at offset ${i}` };
      if (!NAME_RE.test(name))
        return { error: `"{${name}}" at offset ${i}: a reference is {name} with letters, digits and "_" (write {{ for a literal brace)` };
      parts.push(lit);
      names.push(name);
      lit = '';
      i = close;
    } else if (c === '}') {
      if (source[i + 1] !== '}') return { error: `unmatched "}" at offset ${i} (write }} for a literal brace)` };
      lit += '}';
      i++;
    } else {
      lit += c;
    }
  }
  parts.push(lit);
  return {
    source,
    names,
    parts,
    render(captures: Readonly<Record<string, string>>): string {
      let s = parts[0] as string;
      for (let i = 0; i < names.length; i++) {
        const n = names[i] as string;
        s += (Object.hasOwn(captures, n) ? captures[n] : '') + (parts[i + 1] as string);
      }
      return s;
    },
  };
}

/**
 * Renders a value template with captures (convenience; compiles on every call, so the
 * hot path keeps a compiled `ValueTemplate` instead). Throws on a malformed template.
 */
export function renderTemplate(template: string, captures: Readonly<Record<string, string>>): string {
  const t = compileValueTemplate(template);
  if (isTemplateError(t)) throw new Error(`invalid template "${template}": ${t.error}`);
  return t.render(captures);
}

/**
 * True when every topic matched by MQTT filter `b` is also matched by filter `a`, so
 * subscribing to both would only deliver duplicates.
 */
export function filterCovers(a: string, b: string): boolean {
  const la = a.split('/');
  const lb = b.split('/');
  if (la[0] === '+' || la[0] === '#') {
    const first = lb[0] as string;
    if (first.startsWith('$')) return false;
  }
  for (let i = 0; i < la.length; i++) {
    const x = la[i] as string;
    if (x === '#') return true;
    if (i >= lb.length) return false;
    const y = lb[i] as string;
    if (y === '#') return false;
    if (x !== '+' && x !== y) return false;
  }
  // `a` ends here; `b` must end too, or continue with `#` alone only if `a` had it.
  return lb.length === la.length;
}

/**
 * The filters of `filters` that no other one covers (duplicates kept once, first wins).
 * Overlapping subscriptions make a broker deliver a message once per matching filter,
 * which would store it twice.
 */
export function coveringFilters(filters: readonly string[]): string[] {
  const all = [...new Set(filters)];
  return all.filter((f, i) => !all.some((g, j) => j !== i && filterCovers(g, f) && (!filterCovers(f, g) || j < i)));
}

/**
 * One test for "does `topic` match any of these MQTT filters" (`+` one level, `#` the rest
 * including the parent, a leading wildcard never matches a `$` topic), compiled once into a
 * single RegExp: the hot path pays one `test()` per message, no split. Undefined for none.
 */
export function filterMatcher(filters: readonly string[]): ((topic: string) => boolean) | undefined {
  if (filters.length === 0) return undefined;
  const alternatives = filters.map((f) => {
    const levels = f.split('/');
    const guard = levels[0] === '+' || levels[0] === '#' ? '(?!\\$)' : '';
    let re = '';
    levels.forEach((lv, i) => {
      if (lv === '#') re += i === 0 ? '.*' : '(?:/.*)?';
      else re += (i === 0 ? '' : '/') + (lv === '+' ? '[^/]*' : lv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    });
    return guard + re;
  });
  const re = new RegExp(`^(?:${alternatives.join('|')})$`, 's');
  return (topic) => re.test(topic);
}

/** Problems with an MQTT subscription filter, or undefined when valid. */
export function filterError(filter: string): string | undefined {
  let f = filter;
  if (f.startsWith('$share/')) {
    const [, group, ...rest] = f.split('/');
    if (!group || /[+#]/.test(group)) return 'a shared subscription is $share/<group>/<filter>';
    f = rest.join('/');
  }
  if (f === '') return 'empty topic filter';
  const levels = f.split('/');
  for (const [i, lv] of levels.entries()) {
    if (lv === '#' && i !== levels.length - 1) return '"#" must be the last level';
    if (lv.length > 1 && /[+#]/.test(lv)) return '"+" and "#" must be a whole level';
  }
  return undefined;
}
