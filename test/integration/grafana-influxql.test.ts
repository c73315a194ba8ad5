/**
 * Every InfluxQL query of grafana/edgeflux-influxql.json, with Grafana's variables filled
 * in as Grafana does, runs against a real influxd holding what edgeflux writes (its
 * edgeflux_internal and device_status points, from the code that writes them, and a
 * reading of the example rule) and returns data.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLine } from '../../src/sink/line-protocol.js';
import type { Reading } from '../../src/types.js';
import { selfReadings } from '../helpers/edgeflux-schema.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DB = 'sensors';

interface Dash {
  panels: { title: string; targets?: { refId: string; query: string }[] }[];
  templating: { list: { name: string; type: string; query: string }[] };
}

/** Grafana's interpolation for the InfluxQL data source, for single values. */
function interpolate(q: string): string {
  const vars: Record<string, string> = { host: 'pi', measurement: 'climate', field: 'temperature', device: 'th1' };
  return q
    .replace(/\$timeFilter/g, 'time > now() - 1h')
    .replace(/\$__interval/g, '1m')
    .replace(/\$(\w+)/g, (all, name: string) => vars[name] ?? all);
}

describe('the InfluxQL dashboard against a real influxd', () => {
  let influxd: Influxd;
  beforeAll(async () => {
    influxd = await startInfluxd();
    await influxd.createDatabase(DB);
    const now = BigInt(Date.now()) * 1_000_000n;
    const points: Reading[] = [];
    // Two sets of edgeflux's own points a minute apart (rates need two), the second with larger counts.
    for (const [i, t] of [now - 120_000_000_000n, now - 60_000_000_000n].entries()) {
      for (const r of selfReadings(t)) {
        const fields = Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, typeof v === 'bigint' ? v + BigInt(i * 100) : v]));
        points.push({ ...r, fields });
      }
      points.push({ measurement: 'climate', tags: { location: 'kitchen', device: 'th1' }, fields: { temperature: 21.5 + i, humidity: 40 }, time: t });
    }
    const body = points.map((p) => encodeLine(p)).join('\n');
    const res = await fetch(`${influxd.url}/write?db=${DB}&precision=ns`, { method: 'POST', body });
    expect(res.status).toBe(204);
  });
  afterAll(async () => influxd?.stop());

  it('every panel query and variable query runs and returns data', async () => {
    const d = JSON.parse(readFileSync(join(ROOT, 'grafana/edgeflux-influxql.json'), 'utf8')) as Dash;
    const all = [
      ...d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, q: t.query }))),
      ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable $${v.name}`, q: v.query })),
    ];
    const empty: string[] = [];
    for (const { where, q } of all) {
      const json = (await influxd.query(interpolate(q), DB)) as { results: { series?: { values: unknown[][] }[] }[] };
      const values = json.results.flatMap((r) => r.series ?? []).flatMap((s) => s.values);
      const hasValue = values.some((row) => row.slice(q.startsWith('SHOW') ? 0 : 1).some((v) => v !== null));
      if (!hasValue) empty.push(`${where}: ${interpolate(q)}`);
    }
    expect(empty).toEqual([]);
    expect(all.length).toBeGreaterThanOrEqual(18);
  });
});
