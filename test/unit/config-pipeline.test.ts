import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkCommand } from '../../src/cli/check.js';
import { formatIssue, parseConfigText } from '../../src/cli/load-config.js';
import { tempDir } from '../helpers/net.js';

// `pipeline:` mounted in the config (globally and per rule): parsed into the operators'
// options, and every mistake reported by `edgeflux check` with file:line:col and key.

const BASE = `broker: { port: 0 }
outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: sensors }
`;

async function parse(text: string) {
  return parseConfigText(text, 'edgeflux.yaml', {}, '/etc/edgeflux');
}

describe('pipeline in the config', () => {
  it('defaults to no steps, globally and per rule', async () => {
    const r = await parse(`${BASE}rules:\n  - { topic: "s/{device}/{measurement}", format: json }\n`);
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.pipeline).toEqual([]);
    expect(r.config.rules[0]?.pipeline).toEqual([]);
  });

  it('parses global and per-rule steps into ms and defaults, in order', async () => {
    const r = await parse(`${BASE}rules:
  - topic: "s/{device}/{measurement}"
    format: json
    pipeline:
      - deadband: { field: temperature, abs: 0.2, heartbeat: 5m }
pipeline:
  - window: { every: 1m, aggregates: [mean, min, max], idle: 10s }
  - series_limit: { max_series: 500 }
`);
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.rules[0]?.pipeline).toEqual([{ deadband: { fields: ['temperature'], abs: 0.2, heartbeat: 300_000 } }]);
    expect(r.config.pipeline).toEqual([
      { window: expect.objectContaining({ every: 60_000, aggregates: ['mean', 'min', 'max'], idle: 10_000, allowed_lateness: 0, naming: 'fields' }) },
      { series_limit: { max_series: 500, idle: expect.any(Number) } },
    ]);
    expect(Object.isFrozen(r.config.pipeline[0])).toBe(true);
  });
});

describe('edgeflux check on pipeline mistakes', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let stderr: string[];
  beforeEach(async () => {
    dir = await tempDir();
    stderr = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr.push(String(s));
      return true;
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await dir.cleanup();
  });

  it('lists every error with file:line:col and key, exit code 2', async () => {
    const file = join(dir.path, 'edgeflux.yaml');
    await writeFile(
      file,
      `${BASE}rules:
  - topic: "s/{device}/{measurement}"
    format: json
    pipeline:
      - deadband: { field: temperature, heartbeat: 5m }
      - dedupe: {}
        throttle: { interval: 1s }
pipeline:
  - window: { every: 1m, aggregates: [mean, median] }
  - debounce: { quiet: 1x }
  - throttle: { interval: 10s, keep: first }
  - windw: { every: 1m }
  - 42
  - window: { every: 1m, offset: 2m }
`,
    );
    expect(await checkCommand(file)).toBe(2);
    const lines = stderr.join('').trim().split('\n');
    const f = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const at = (line: number, key: string, message: RegExp) =>
      expect.stringMatching(new RegExp(`^${f}:${line}:\\d+ ${key.replace(/[.[\]]/g, '\\$&')}: ${message.source}`));
    expect(lines.slice(0, -1)).toEqual([
      at(8, 'rules[0].pipeline[0].deadband', /set abs and\/or pct/),
      at(10, 'rules[0].pipeline[1].throttle', /one operator per step, found dedupe and throttle/),
      at(12, 'pipeline[0].window.aggregates[1]', /./),
      at(13, 'pipeline[1].debounce.quiet', /./),
      at(14, 'pipeline[2].throttle.keep', /./),
      at(15, 'pipeline[3].windw', /unknown key "windw" \(did you mean "window"\?\)/),
      at(16, 'pipeline[4]', /a pipeline step is a mapping with one key/),
      at(17, 'pipeline[5].window.offset', /must be shorter than every \(1m\)/),
    ]);
    expect(lines.at(-1)).toBe(`8 errors in ${file}`);
  });
});
