import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssueWithCode, loadConfig, parseConfigText, type ConfigIssue } from '../../src/cli/load-config.js';
import { WRITE_ERROR_CODES } from '../../src/sink/write-error.js';
import { ERRORS, PAYLOAD_CODES, errorMessage, troubleshootingMarkdown, type ErrorCode } from '../../src/util/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CODES = Object.keys(ERRORS) as ErrorCode[];

async function issues(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<readonly ConfigIssue[]> {
  const r = await parseConfigText(yaml, 'edgeflux.yaml', env, '/tmp');
  return r.ok ? [] : r.errors;
}

const VALID = `
broker: { port: 1884 }
rules:
  - { topic: "s/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: x }
`;

describe('the table of coded errors', () => {
  it('codes are EFX_<AREA>_…, each with its own message and fix', () => {
    for (const code of CODES) {
      const area = ERRORS[code].area === 'service' ? 'PORT' : ERRORS[code].area.toUpperCase();
      expect(code).toMatch(new RegExp(`^EFX_${area}_[A-Z0-9_]+$`));
    }
    expect(new Set(CODES.map((c) => ERRORS[c].message)).size).toBe(CODES.length);
    expect(new Set(CODES.map((c) => ERRORS[c].hint)).size).toBe(CODES.length);
    // Every decode reason and every kind of write failure has a code of its own.
    expect(new Set(Object.values(PAYLOAD_CODES)).size).toBe(Object.keys(PAYLOAD_CODES).length);
    expect(new Set(Object.values(WRITE_ERROR_CODES)).size).toBe(Object.keys(WRITE_ERROR_CODES).length);
  });

  it('every code is used by the code outside the table (directly or through the payload and write-error maps)', async () => {
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(dir, e.name));
        else if (e.name.endsWith('.ts') && e.name !== 'errors.ts') files.push(join(dir, e.name));
      }
    };
    await walk(join(ROOT, 'src'));
    const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
    const mapped = new Set<string>([...Object.values(PAYLOAD_CODES), ...Object.values(WRITE_ERROR_CODES)]);
    const unused = CODES.filter((c) => !mapped.has(c) && !text.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });

  it('docs/troubleshooting.md is the table (regenerate it with the command in its header)', async () => {
    expect(await readFile(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8')).toBe(troubleshootingMarkdown());
  });

  it("the README's troubleshooting codes are in the table", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Troubleshooting'));
    const named = [...section.slice(0, section.indexOf('\n## ', 3)).matchAll(/`(EFX_[A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(5);
    for (const c of named) expect(CODES).toContain(c);
  });

  it('errorMessage fills the template', () => {
    expect(errorMessage('EFX_PORT_IN_USE', { port: 1883, key: 'broker.port' })).toBe('port 1883 is already in use (broker.port)');
    expect(errorMessage('EFX_CONFIG_UNREADABLE')).toBe('cannot read the config file: {why}');
  });
});

describe('config problems carry their code', () => {
  it('an unknown key: EFX_CONFIG_UNKNOWN_KEY, printed after the place', async () => {
    const found = await issues(`${VALID}\nspool: { dri: /tmp }\n`);
    expect(found.map((i) => i.code)).toEqual(['EFX_CONFIG_UNKNOWN_KEY']);
    expect(formatIssueWithCode(found[0]!)).toMatch(/^edgeflux\.yaml:\d+:\d+ spool\.dri: unknown key "dri".* \[EFX_CONFIG_UNKNOWN_KEY\]$/);
  });

  it('a bad value: EFX_CONFIG_INVALID', async () => {
    const found = await issues(VALID.replace('format: json', 'format: jsn'));
    expect(found).toHaveLength(1);
    expect(found[0]!.code).toBeUndefined();
    expect(formatIssueWithCode(found[0]!)).toMatch(/ \[EFX_CONFIG_INVALID\]$/);
  });

  it('YAML syntax: EFX_CONFIG_SYNTAX', async () => {
    const found = await issues('rules: [\n  { topic: "a" \n');
    expect(found.length).toBeGreaterThan(0);
    expect(new Set(found.map((i) => i.code))).toEqual(new Set(['EFX_CONFIG_SYNTAX']));
  });

  it('an unset environment variable: EFX_CONFIG_ENV', async () => {
    const found = await issues(VALID.replace('database: x', 'database: "${EFX_TEST_NOT_SET}"'));
    expect(found.map((i) => i.code)).toEqual(['EFX_CONFIG_ENV']);
  });

  it('a file that cannot be read: EFX_CONFIG_UNREADABLE', async () => {
    const r = await loadConfig('/nonexistent/edgeflux.yaml', {});
    expect(r.ok ? [] : r.errors.map((i) => i.code)).toEqual(['EFX_CONFIG_UNREADABLE']);
  });
});
