import { describe, expect, it } from 'vitest';
import {
  compileTopicTemplate,
  compileValueTemplate,
  filterCovers,
  filterMatcher,
  isTemplateError,
  renderTemplate,
  type TopicTemplate,
} from '../../src/util/topic-template.js';

function tpl(t: string): TopicTemplate {
  const c = compileTopicTemplate(t);
  if (isTemplateError(c)) throw new Error(c.error);
  return c;
}

function err(t: string): string {
  const c = compileTopicTemplate(t);
  if (!isTemplateError(c)) throw new Error(`expected an error for ${t}`);
  return c.error;
}

describe('compileTopicTemplate', () => {
  it('compiles sensors/{location}/{device}/{measurement} into a filter and capture names', () => {
    const t = tpl('sensors/{location}/{device}/{measurement}');
    expect(t.filter).toBe('sensors/+/+/+');
    expect(t.names).toEqual(['location', 'device', 'measurement']);
    expect(t.template).toBe('sensors/{location}/{device}/{measurement}');
    expect(t.match('sensors/kitchen/th1/climate')).toEqual({ location: 'kitchen', device: 'th1', measurement: 'climate' });
  });

  it('keeps +, # and literal levels in the filter', () => {
    expect(tpl('a/+/{x}/#').filter).toBe('a/+/+/#');
    expect(tpl('#').filter).toBe('#');
    expect(tpl('$SYS/{what}').filter).toBe('$SYS/+');
    expect(tpl('/leading/{x}').filter).toBe('/leading/+');
    expect(tpl('a//b').filter).toBe('a//b');
  });

  it.each([
    ['', /empty/],
    ['a/{}', /empty capture name/],
    ['a/#/b', /"#" must be the last level/],
    ['a/b#', /whole level/],
    ['a/b+', /whole level/],
    ['a/+b/c', /whole level/],
    ['a/{x}y', /"\{name\}" must be a whole level/],
    ['a/x{y}', /whole level/],
    ['a/{x', /whole level/],
    ['a/x}', /whole level/],
    ['a/{x}/{x}', /duplicate capture name "x"/],
    ['a/{1x}', /capture name/],
    ['a/{x-y}', /capture name/],
    ['a/{x y}', /capture name/],
    ['a/{é}', /capture name/],
    ['a/\u0000', /NUL/],
    ['$share/g/sensors/#', /\$share/],
    ['x'.repeat(65536), /65535 bytes/],
  ])('rejects %j', (t, re) => {
    expect(err(t)).toMatch(re);
  });

  it('names the offending level in errors', () => {
    expect(err('a/b/#/c')).toMatch(/level 3/);
  });
});

describe('match', () => {
  it('matches literals exactly, level by level', () => {
    const t = tpl('a/b/c');
    expect(t.match('a/b/c')).toEqual({});
    expect(t.match('a/b')).toBeNull();
    expect(t.match('a/b/c/d')).toBeNull();
    expect(t.match('a/b/cc')).toBeNull();
    expect(t.match('a/bb/c')).toBeNull();
    expect(t.match('a/b/c/')).toBeNull();
    expect(t.match('A/b/c')).toBeNull();
  });

  it('+ and {name} match exactly one level, never across /', () => {
    const t = tpl('s/{a}/+/x');
    expect(t.match('s/1/2/x')).toEqual({ a: '1' });
    expect(t.match('s/1/2/3/x')).toBeNull();
    expect(t.match('s/1/x')).toBeNull();
    expect(tpl('s/{a}').match('s/1/2')).toBeNull();
  });

  it('+ and {name} match an empty level', () => {
    expect(tpl('a/{x}/c').match('a//c')).toEqual({ x: '' });
    expect(tpl('a/{x}').match('a/')).toEqual({ x: '' });
    expect(tpl('a/+').match('a')).toBeNull();
    expect(tpl('{x}/b').match('/b')).toEqual({ x: '' });
  });

  it('# matches the parent level, any depth, and empty levels', () => {
    const t = tpl('a/#');
    expect(t.match('a')).toEqual({});
    expect(t.match('a/')).toEqual({});
    expect(t.match('a/b')).toEqual({});
    expect(t.match('a/b/c/d')).toEqual({});
    expect(t.match('ab')).toBeNull();
    expect(t.match('b/a')).toBeNull();
    const c = tpl('a/{x}/#');
    expect(c.match('a/1')).toEqual({ x: '1' });
    expect(c.match('a/1/2/3')).toEqual({ x: '1' });
    expect(c.match('a')).toBeNull();
  });

  it('# alone matches everything except $ topics', () => {
    const t = tpl('#');
    expect(t.match('a')).toEqual({});
    expect(t.match('a/b/c')).toEqual({});
    expect(t.match('/')).toEqual({});
    expect(t.match('$SYS/broker/uptime')).toBeNull();
    expect(t.match('$SYS')).toBeNull();
  });

  it('$SYS topics do not match templates starting with a wildcard, but do match a literal $ level', () => {
    expect(tpl('+/broker/uptime').match('$SYS/broker/uptime')).toBeNull();
    expect(tpl('{x}/broker/uptime').match('$SYS/broker/uptime')).toBeNull();
    expect(tpl('+/#').match('$SYS/x')).toBeNull();
    expect(tpl('$SYS/#').match('$SYS/broker/uptime')).toEqual({});
    expect(tpl('$SYS/{a}/{b}').match('$SYS/broker/uptime')).toEqual({ a: 'broker', b: 'uptime' });
    // A $ later in the topic is an ordinary character.
    expect(tpl('+/{x}').match('a/$x')).toEqual({ x: '$x' });
  });

  it('handles unicode levels', () => {
    expect(tpl('capteurs/{pièce}'.replace('è', 'e')).match('capteurs/séjour')).toEqual({ piece: 'séjour' });
    expect(tpl('温度/{x}').match('温度/😀')).toEqual({ x: '😀' });
    expect(tpl('温度/{x}').match('温/😀')).toBeNull();
  });

  it('matchInto writes captures by name index and reports a miss', () => {
    const t = tpl('s/{a}/{b}');
    const out: string[] = [];
    expect(t.matchInto('s/1/2', out)).toBe(true);
    expect(out).toEqual(['1', '2']);
    expect(t.matchInto('s/1', out)).toBe(false);
  });

  it('gives each match its own record', () => {
    const t = tpl('s/{a}');
    const m1 = t.match('s/1');
    const m2 = t.match('s/2');
    expect(m1).toEqual({ a: '1' });
    expect(m2).toEqual({ a: '2' });
  });

  it('refuses __proto__ as a capture name (it could not be an ordinary key)', () => {
    expect(err('s/{__proto__}')).toMatch(/__proto__/);
  });
});

describe('value templates', () => {
  it('renders references and literals', () => {
    const t = compileValueTemplate('{device}_{kind}/x');
    if (isTemplateError(t)) throw new Error(t.error);
    expect(t.names).toEqual(['device', 'kind']);
    expect(t.parts).toEqual(['', '_', '/x']);
    expect(t.render({ device: 'th1', kind: 'temp' })).toBe('th1_temp/x');
    expect(t.render({ device: 'th1' })).toBe('th1_/x');
    // Inherited properties are not captures.
    expect(renderTemplate('{constructor}{toString}', {})).toBe('');
  });

  it('supports {{ and }} as literal braces and constant templates', () => {
    expect(renderTemplate('{{x}} {x}', { x: '1' })).toBe('{x} 1');
    expect(renderTemplate('plain', {})).toBe('plain');
    expect(renderTemplate('', {})).toBe('');
  });

  it.each([['{x'], ['{}'], ['{a b}'], ['x}'], ['{1}']])('rejects %j', (s) => {
    expect(isTemplateError(compileValueTemplate(s))).toBe(true);
    expect(() => renderTemplate(s, {})).toThrow(/invalid template/);
  });

  it('is reachable from a compiled topic template', () => {
    const t = tpl('s/{a}');
    expect(t.render('m_{a}', t.match('s/x') ?? {})).toBe('m_x');
  });
});

describe('filterCovers', () => {
  it.each([
    ['#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/#', 'a', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['a/#', 'b/#', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/+', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/#', false],
    ['+/#', '#', false],
    ['+/+', 'a/b', true],
  ])('%s covers %s: %s', (a, b, want) => {
    expect(filterCovers(a, b)).toBe(want);
  });
});

describe('filterMatcher', () => {
  it('matches topics as an MQTT broker matches filters', () => {
    const m = filterMatcher(['tele/+/STATE', 'zigbee2mqtt/bridge/#', 'a.b/+', '$SYS/#'])!;
    const yes = ['tele/plug/STATE', 'tele//STATE', 'zigbee2mqtt/bridge', 'zigbee2mqtt/bridge/state', 'zigbee2mqtt/bridge/x/y', 'a.b/c', '$SYS/broker/uptime'];
    const no = ['tele/plug/SENSOR', 'tele/a/b/STATE', 'zigbee2mqtt/bridgeX', 'zigbee2mqtt/plug', 'aXb/c', 'a.b/c/d', 'tele/plug/STATE/x'];
    expect(yes.filter((t) => !m(t))).toEqual([]);
    expect(no.filter((t) => m(t))).toEqual([]);
  });

  it('a leading wildcard does not match a $ topic; none given: no matcher', () => {
    expect(filterMatcher(['#'])!('$SYS/x')).toBe(false);
    expect(filterMatcher(['#'])!('a/b')).toBe(true);
    expect(filterMatcher(['+/b'])!('$x/b')).toBe(false);
    expect(filterMatcher([])).toBeUndefined();
  });
});
