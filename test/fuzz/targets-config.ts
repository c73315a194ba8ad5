/**
 * Fuzz target for the config loader (parseConfigText): random YAML, random objects
 * written as YAML with the config's own keys, alias bombs, and examples/edgeflux.yaml
 * mutated once (a character, a line deleted/duplicated/re-indented, a value replaced).
 * It must resolve to `ok` with a frozen config, or to a non-empty list of issues, each
 * with file, line >= 0, column >= 0, key and a message.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfigText, type LoadResult } from '../../src/cli/load-config.js';
import { mutateText, nastyText, show } from './arbitraries.js';
import { Stats, fcParams, type FuzzTarget, type RunOptions } from './check.js';

const EXAMPLE = readFileSync(join(import.meta.dirname, '../../examples/edgeflux.yaml'), 'utf8');
const LINES = EXAMPLE.split('\n');
const ENV = { FUZZ_TOKEN: 's3cret', EMPTY: '' };

const scalar = fc.oneof(
  fc.constantFrom(
    '',
    '~',
    'null',
    '-1',
    '0',
    '1e400',
    '99999999999999999999',
    '"${FUZZ_TOKEN}"',
    '${NOT_SET}',
    '${EMPTY}',
    '[',
    ']',
    '{',
    '{a: 1}',
    '[1, [2]]',
    '*nope',
    '&a x',
    '!!binary AAAA',
    '!!js/function x',
    '0x10',
    'yes',
    'off',
    '1.5GiB',
    '10ms',
    '-5s',
    '1h30',
    'always',
    '.inf',
    '.nan',
    '"\\u0000"',
    'json',
    'number',
    'line_protocol',
    'influxdb_v2',
    'memory',
    'sensors/{a}/{a}',
    'lp/#/x',
    '"{measurement}"',
    'mqtt://x:1',
    '127.0.0.1',
    '0.0.0.0',
    '65536',
    '|',
    '>',
    '- x',
    '? x',
    '<<: *a',
  ),
  nastyText(20).map((s) => JSON.stringify(s)),
  nastyText(20),
);

/** examples/edgeflux.yaml with one line-level change. */
const lineMutation = fc
  .oneof(
    fc.nat(LINES.length - 1).map((i) => LINES.filter((_l, j) => j !== i)),
    fc.nat(LINES.length - 1).map((i) => [...LINES.slice(0, i + 1), ...LINES.slice(i)]),
    fc
      .tuple(fc.nat(LINES.length - 1), fc.integer({ min: -4, max: 4 }))
      .map(([i, d]) => LINES.map((l, j) => (j !== i ? l : d >= 0 ? ' '.repeat(d) + l : l.slice(-d)))),
    fc.tuple(fc.nat(LINES.length - 1), scalar).map(([i, v]) => LINES.map((l, j) => (j === i && l.includes(':') ? l.replace(/:(\s.*)?$/, `: ${v}`) : l))),
    fc.nat(LINES.length - 1).map((i) => LINES.map((l, j) => (j === i ? l.replace(/^(\s*)# ?/, '$1') : l))), // uncomment a line
  )
  .map((lines) => lines.join('\n'));

const KEYS = [
  'log',
  'level',
  'broker',
  'host',
  'port',
  'mqtt',
  'id',
  'url',
  'rules',
  'topic',
  'format',
  'json',
  'time_key',
  'time_unit',
  'integers',
  'measurement',
  'outputs',
  'type',
  'database',
  'batch',
  'max_points',
  'max_age',
  'spool',
  'mode',
  'sync',
  'max_bytes',
  'policy',
  'dead_letter',
  'path',
  'limits',
  'max_payload',
  'pipeline',
  'devices',
  'profile',
  'serial',
  'users',
  'password',
  'token',
  'token_file',
  'tls',
  'tags',
  'shutdown_timeout',
  'subscriptions',
  'qos',
  'service',
];
const keyArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: nastyText(8) });
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)),
    fc.dictionary(keyArb, tie('v'), { maxKeys: 5 }),
    fc.array(tie('v'), { maxLength: 3 }),
  ),
})).v;
const objectYaml = fc.dictionary(keyArb, valueArb, { maxKeys: 8 }).map((o) => stringify(o));

/** Alias bombs: each level refers to the previous one ten times. */
const aliasBomb = fc.integer({ min: 2, max: 12 }).map((n) => {
  let s = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < n; i++)
    s += `a${i}: &a${i} [${Array(10)
      .fill(`*a${i - 1}`)
      .join(', ')}]\n`;
  return s;
});

export const configText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: mutateText(EXAMPLE) },
  { weight: 4, arbitrary: lineMutation },
  { weight: 2, arbitrary: objectYaml },
  { weight: 1, arbitrary: fc.tuple(fc.constant(EXAMPLE), objectYaml).map(([a, b]) => a + '\n' + b) },
  { weight: 1, arbitrary: aliasBomb },
  { weight: 1, arbitrary: nastyText(200) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(EXAMPLE, '', '---', '--- \n...\n---\n', 'a: 1\na: 2\n', '[1, 2]', '"x"', '&a [*a]', 'k: !!set {a}', '%YAML 1.1\n---\nx: 1'),
  },
);

const TOP_KEYS = new Set([
  'log',
  'broker',
  'mqtt',
  'service',
  'rules',
  'device_profiles',
  'devices',
  'serial',
  'outputs',
  'spool',
  'dead_letter',
  'limits',
  'pipeline',
  'shutdown_timeout',
]);

function checkResult(r: LoadResult, file: string, stats: Stats, describe: () => string): void {
  if (r.ok) {
    if (!Object.isFrozen(r.config)) throw new Error(`config not frozen for ${describe()}`);
    stats.count('ok');
    return;
  }
  if (!Array.isArray(r.errors) || r.errors.length === 0) throw new Error(`not ok without issues for ${describe()}`);
  for (const i of r.errors) {
    if (typeof i.file !== 'string' || i.file === '') throw new Error(`issue without a file: ${show(i)} for ${describe()}`);
    if (i.file !== file && !i.file.endsWith('.yaml') && !i.file.endsWith('.yml')) throw new Error(`issue names file ${i.file} for ${describe()}`);
    if (!Number.isInteger(i.line) || i.line < 0 || !Number.isInteger(i.column) || i.column < 0)
      throw new Error(`issue without a place: ${show(i)} for ${describe()}`);
    if (typeof i.key !== 'string') throw new Error(`issue without a key: ${show(i)}`);
    if (typeof i.message !== 'string' || i.message.trim() === '') throw new Error(`issue without a message: ${show(i)} for ${describe()}`);
  }
  const first = r.errors[0];
  const top = first === undefined || first.key === '' ? '(yaml / whole file)' : (first.key.split(/[.[]/)[0] as string);
  stats.count(`rejected at ${TOP_KEYS.has(top) || top.startsWith('(') ? top : top === '' ? '(root)' : 'an unknown top-level key'}`);
}

/**
 * Bugs found by this fuzzer and reported, not yet fixed (outside the fuzzer's files):
 * counted apart and printed by `npm run fuzz`, so they stay visible without failing
 * `npm test`. Remove an entry once its fix lands.
 */
function knownBug(_text: string, _e: unknown): string | undefined {
  // None open. (A self-referencing YAML alias, `&a [*a]`, used to overflow the stack in
  // substituteEnv; it is now a config error at its place.)
  return undefined;
}

function configTarget(): FuzzTarget {
  return {
    name: 'config loader (parseConfigText)',
    fullRuns: 2_500,
    maxMs: 1000,
    async run(o: RunOptions) {
      const stats = new Stats(o.maxMs);
      const dir = mkdtempSync(join(tmpdir(), 'edgeflux-fuzz-'));
      const file = join(dir, 'edgeflux.yaml');
      try {
        await fc.assert(
          fc.asyncProperty(configText, async (text) => {
            const d = () => `config ${show(text, 300)}`;
            let r: LoadResult;
            try {
              r = await stats.timeAsync(d, () => parseConfigText(text, file, ENV, dir));
            } catch (e) {
              if (e instanceof Error && e.message.startsWith('took ')) throw e;
              const known = knownBug(text, e);
              if (known !== undefined) {
                stats.count(`KNOWN BUG: ${known}`);
                return;
              }
              throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${d()}`, { cause: e });
            }
            checkResult(r, file, stats, d);
          }),
          fcParams(o),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return stats.report(this.name, o.seed);
    },
  };
}

export function configTargets(): FuzzTarget[] {
  return [configTarget()];
}
