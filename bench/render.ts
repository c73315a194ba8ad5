/**
 * Re-renders the Markdown section (and charts) of a finished run from its raw figures,
 * e.g. after a change to the report's layout:
 *   node --import tsx bench/render.ts bench/results/<stamp>-raw.json > section.md
 */
import { readFileSync } from 'node:fs';
import { renderSection } from './lib/report.js';
import type { BenchResults } from './lib/results.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node --import tsx bench/render.ts bench/results/<stamp>-raw.json\n');
  process.exit(2);
}
const raw = JSON.parse(readFileSync(file, 'utf8')) as BenchResults & { info: { startedAt: string; finishedAt: string } };
const results: BenchResults = { ...raw, info: { ...raw.info, startedAt: new Date(raw.info.startedAt), finishedAt: new Date(raw.info.finishedAt) } };
process.stdout.write(`${renderSection(results)}\n`);
