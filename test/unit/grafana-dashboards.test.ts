/**
 * The Grafana dashboards in grafana/: importable JSON, and every query names a
 * measurement, field and tag that edgeflux writes — edgeflux_internal and device_status
 * as the code writes them (test/helpers/edgeflux-schema.ts runs that code), readings
 * through the dashboard's $measurement/$field variables and the tags of the shipped
 * example rule. (test/integration/grafana-influxql.test.ts also runs the InfluxQL queries
 * against a real influxd.)
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileTopicTemplate, isTemplateError } from '../../src/util/topic-template.js';
import { selfSchema } from '../helpers/edgeflux-schema.js';

const ROOT = resolve(import.meta.dirname, '../..');
const load = (f: string) => JSON.parse(readFileSync(join(ROOT, 'grafana', f), 'utf8')) as Dashboard;

interface Target {
  refId: string;
  query: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string; datasource?: { uid: string } }[] };
}

const SCHEMA = selfSchema();
/** Tags a reading gets from the example config's first rule (its topic captures, but {measurement}). */
const READING_TAGS = (() => {
  const cfg = parse(readFileSync(join(ROOT, 'examples/raspberry-pi.yaml'), 'utf8')) as { rules: { topic: string }[] };
  const t = compileTopicTemplate(cfg.rules[0]!.topic);
  if (isTemplateError(t)) throw new Error(t.error);
  return new Set(t.names.filter((n) => n !== 'measurement'));
})();

const allPanels = (d: Dashboard) => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = (d: Dashboard) => [
  ...allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, q: t.query }))),
  ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable $${v.name}`, q: v.query })),
];

function checkImportable(d: Dashboard, file: string) {
  expect(d.__inputs).toEqual([expect.objectContaining({ name: 'DS_INFLUXDB', type: 'datasource', pluginId: 'influxdb' })]);
  expect(d.uid).toMatch(/^edgeflux-/);
  expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
  const panels = allPanels(d);
  expect(new Set(panels.map((p) => p.id)).size, `${file}: panel ids unique`).toBe(panels.length);
  for (const p of panels) {
    expect(p.gridPos.x + p.gridPos.w, `${file}: "${p.title}" fits the 24-column grid`).toBeLessThanOrEqual(24);
    if (p.type === 'row') continue;
    expect(p.datasource?.uid, `${file}: "${p.title}" uses the imported data source`).toBe('${DS_INFLUXDB}');
    expect(p.targets?.length, `${file}: "${p.title}" has queries`).toBeGreaterThan(0);
    for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe('${DS_INFLUXDB}');
  }
  for (const v of d.templating.list) if (v.type === 'query') expect(v.datasource?.uid).toBe('${DS_INFLUXDB}');
}

/** A measurement reference: an edgeflux one it writes, or the readings chosen by $measurement. */
function measurementOf(ref: string, where: string): string {
  if (ref === '$measurement' || ref === '${measurement}') return '<readings>';
  expect(SCHEMA.has(ref), `${where}: measurement "${ref}" is not one edgeflux writes`).toBe(true);
  return ref;
}

function checkField(m: string, field: string, where: string) {
  if (m === '<readings>') return expect(['$field', '${field}'], `${where}: readings fields come from $field`).toContain(field);
  expect([...SCHEMA.get(m)!.fields], `${where}: field "${field}" of ${m}`).toContain(field);
}

function checkTag(m: string, tag: string, where: string) {
  if (m === '<readings>') return expect([...READING_TAGS], `${where}: tag "${tag}" of the readings`).toContain(tag);
  expect([...SCHEMA.get(m)!.tags.keys()], `${where}: tag "${tag}" of ${m}`).toContain(tag);
}

function checkTagValue(m: string, tag: string, value: string, where: string) {
  if (m !== '<readings>') expect([...(SCHEMA.get(m)!.tags.get(tag) ?? [])], `${where}: ${tag}="${value}" of ${m}`).toContain(value);
}

describe('grafana/edgeflux-influxql.json', () => {
  const d = load('edgeflux-influxql.json');
  it('is importable as is', () => checkImportable(d, 'edgeflux-influxql.json'));

  it('every query names measurements, fields and tags edgeflux writes', () => {
    let checked = 0;
    for (const { where, q } of queries(d)) {
      if (q === 'SHOW MEASUREMENTS') continue;
      const from = /\bFROM\s+(?:"([^"]+)"|\/\^(\$\w+)\$\/)/.exec(q);
      expect(from, `${where}: FROM`).not.toBeNull();
      const m = measurementOf((from![1] ?? from![2]) as string, where);
      for (const f of q.matchAll(/\b(?:mean|last|max|min|sum|count)\((?:"([^"]+)"|\/\^(\$\w+)\$\/)\)/g)) checkField(m, (f[1] ?? f[2]) as string, where);
      if (/^SHOW FIELD KEYS/.test(q)) expect(m).toBe('<readings>');
      for (const t of q.matchAll(/"(\w+)"\s*(?:=~|!=|=)\s*(?:'([^']*)')?/g)) {
        checkTag(m, t[1] as string, where);
        if (t[2] !== undefined) checkTagValue(m, t[1] as string, t[2], where);
      }
      const group = /GROUP BY (.*?)(?: fill\(|$)/.exec(q)?.[1] ?? '';
      for (const g of group.matchAll(/"(\w+)"/g)) checkTag(m, g[1] as string, where);
      const key = /WITH KEY = "(\w+)"/.exec(q)?.[1];
      if (key) checkTag(m, key, where);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('shows every edgeflux_internal field of each kind somewhere, or says why not', () => {
    const text = JSON.stringify(d);
    const notShown = [...SCHEMA.get('edgeflux_internal')!.fields].filter((f) => !text.includes(`\\"${f}\\"`));
    // Left to Explore: companions of what is graphed (requests beside points, mean lag beside p99 and max…).
    const leftOut = ['clock_synchronized', 'dead_letter_records', 'event_loop_lag_mean_ms', 'messages_decoded', 'readings_dropped', 'write_requests'];
    expect(notShown.filter((f) => !leftOut.includes(f))).toEqual([]);
  });
});

describe('grafana/edgeflux-flux.json', () => {
  const d = load('edgeflux-flux.json');
  it('is importable as is', () => checkImportable(d, 'edgeflux-flux.json'));

  it('every query names measurements, fields and tags edgeflux writes', () => {
    let checked = 0;
    for (const { where, q } of queries(d)) {
      const mref = /(?:r\._measurement == |measurement: )"([^"]+)"/.exec(q)?.[1];
      if (!mref) {
        expect(q, `${where}: a query without a measurement lists them`).toMatch(/schema\.measurements\(/);
        continue;
      }
      const m = measurementOf(mref, where);
      for (const f of q.matchAll(/r\._field == "([^"]+)"/g)) checkField(m, f[1] as string, where);
      for (const t of q.matchAll(/\br\.(?!_)(\w+)\s*(==|=~)\s*(?:"([^"]*)")?/g)) {
        checkTag(m, t[1] as string, where);
        if (t[3] !== undefined) checkTagValue(m, t[1] as string, t[3], where);
      }
      for (const k of q.matchAll(/keep\(columns: \[([^\]]*)\]\)/g)) {
        for (const c of (k[1] as string).matchAll(/"(\w+)"/g)) if (!c[1]!.startsWith('_')) checkTag(m, c[1] as string, where);
      }
      for (const t of q.matchAll(/\btag: "(\w+)"/g)) checkTag(m, t[1] as string, where);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('has the same panels as the InfluxQL variant', () => {
    const titles = (x: Dashboard) => allPanels(x).map((p) => p.title);
    expect(titles(d)).toEqual(titles(load('edgeflux-influxql.json')));
  });
});
