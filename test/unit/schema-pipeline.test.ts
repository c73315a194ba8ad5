import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { keyOf } from '../../src/config/load.js';
import { pipelineSchema } from '../../src/config/schema-pipeline.js';

/** The schema mounted the way the lead will mount it, so paths read as users see them. */
const config = z.strictObject({ pipeline: pipelineSchema.default([]) });

function issues(yaml: string): string[] {
  const r = config.safeParse(parseYaml(yaml));
  if (r.success) throw new Error('expected errors');
  return r.error.issues.map((i) => `${keyOf(i.path.filter((p): p is string | number => typeof p !== 'symbol'))}: ${i.message}`);
}

describe('pipeline schema', () => {
  it('parses a deadband and window pipeline into ms and defaults', () => {
    const r = config.parse(
      parseYaml(`
pipeline:
  - deadband: { field: temperature, abs: 0.2, heartbeat: 5m }
  - window: { every: 1m, aggregates: [mean, min, max] }
`),
    );
    expect(r.pipeline).toEqual([
      { deadband: { fields: ['temperature'], abs: 0.2, heartbeat: 300_000 } },
      {
        window: {
          every: 60_000,
          offset: 0,
          allowed_lateness: 0,
          aggregates: ['mean', 'min', 'max'],
          naming: 'fields',
          keep_raw: false,
          late: 'drop',
          max_samples: 1000,
        },
      },
    ]);
  });

  it('parses every step kind', () => {
    const r = config.parse(
      parseYaml(`
pipeline:
  - series_limit: { max_series: 5000 }
  - dedupe: { heartbeat: 10m }
  - debounce: { quiet: 500ms }
  - throttle: { interval: 10s, keep: mean }
  - window: { every: 1m, period: 5m, offset: 10s, allowed_lateness: 30s, naming: measurement, keep_raw: "true", late: raw, aggregates: [p50, p99] }
  - deadband: { fields: [a, b], pct: "2.5", idle: 1h }
`),
    );
    expect(r.pipeline).toEqual([
      { series_limit: { max_series: 5000, idle: 3_600_000 } },
      { dedupe: { heartbeat: 600_000 } },
      { debounce: { quiet: 500 } },
      { throttle: { interval: 10_000, keep: 'mean' } },
      {
        window: {
          every: 60_000,
          period: 300_000,
          offset: 10_000,
          allowed_lateness: 30_000,
          aggregates: ['p50', 'p99'],
          naming: 'measurement',
          keep_raw: true,
          late: 'raw',
          max_samples: 1000,
        },
      },
      { deadband: { fields: ['a', 'b'], pct: 2.5, idle: 3_600_000 } },
    ]);
    expect(config.parse({}).pipeline).toEqual([]);
  });

  it('reports each error at its path with a useful message', () => {
    expect(
      issues(`
pipeline:
  - window: { every: 1x }
  - windw: { every: 1m }
  - {}
  - window: { every: 1m }
    deadband: { abs: 1 }
  - just a string
  - deadband: { field: temperature }
  - window: { every: 1m, period: 30s, offset: 2m }
  - window: { every: 1m, aggregates: [mean, mean] }
  - window: { every: 1m, aggregates: [median] }
  - deadband: { abs: -1, heartbeat: 0s, colour: red }
  - throttle: { keep: first }
  - window: { every: 1s, allowed_lateness: 1h }
`),
    ).toEqual([
      'pipeline[0].window.every: invalid duration "1x" (use e.g. 500ms, 10s, 5m, 1h30m: units ms, s, m, h, d)',
      'pipeline[1]: Unrecognized key: "windw"',
      'pipeline[2]: a pipeline step needs one of: window, debounce, deadband, dedupe, throttle, series_limit',
      'pipeline[3].deadband: one operator per step, found window and deadband: make them separate list entries',
      'pipeline[4]: a pipeline step is a mapping with one key: window, debounce, deadband, dedupe, throttle, series_limit',
      'pipeline[5].deadband: set abs and/or pct (how much change is reported)',
      'pipeline[6].window.period: must not be shorter than every (1m)',
      'pipeline[6].window.offset: must be shorter than every (1m)',
      'pipeline[7].window.aggregates[1]: "mean" is listed twice',
      expect.stringMatching(/^pipeline\[8\]\.window\.aggregates\[0\]: .*"mean"/),
      'pipeline[9].deadband.abs: Too small: expected number to be >=0',
      'pipeline[9].deadband.heartbeat: must be at least 1ms',
      'pipeline[9].deadband: Unrecognized key: "colour"',
      'pipeline[10].throttle.interval: required',
      expect.stringMatching(/^pipeline\[10\]\.throttle\.keep: .*"last"/),
      'pipeline[11].window.allowed_lateness: period + allowed_lateness may span at most 1000 windows of every (each series keeps that many open)',
    ]);
  });

  it('exports a JSON Schema for editors', () => {
    const json = z.toJSONSchema(pipelineSchema, { io: 'input', target: 'draft-07', unrepresentable: 'any' }) as {
      items?: { properties?: Record<string, unknown> };
    };
    expect(Object.keys(json.items?.properties ?? {})).toEqual(['window', 'debounce', 'deadband', 'dedupe', 'throttle', 'series_limit']);
  });
});
