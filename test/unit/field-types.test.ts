import { describe, expect, it } from 'vitest';
import { FieldTypes, influxFieldType } from '../../src/sink/field-types.js';

const r = (fields: Record<string, number | bigint | boolean | string>, measurement = 'climate') => ({ measurement, tags: {}, fields, time: 1n });

describe("FieldTypes (InfluxDB keeps a field's first type)", () => {
  it('maps values to the types line protocol writes', () => {
    expect([1.5, 2n, 'x', true].map(influxFieldType)).toEqual(['float', 'integer', 'string', 'boolean']);
  });

  it('a string where a float was written is a conflict; other measurements and new fields are not', () => {
    const t = new FieldTypes();
    expect(t.check(r({ temperature: 21.5 }))).toBeUndefined();
    expect(t.check(r({ temperature: 'warm' }))).toBe(
      'field "temperature" is a string here but a float before (InfluxDB rejects a field whose type changes: field type conflict)',
    );
    expect(t.check(r({ temperature: 3n, ok: true }))).toMatch(/^field "temperature" is an integer here but a float before/);
    expect(t.check(r({ temperature: 'warm' }, 'other'))).toBeUndefined();
    expect(t.check(r({ temperature: 22, note: 'fine' }))).toBeUndefined();
    expect(t.check(r({ note: 1 }))).toMatch(/^field "note" is a float here but a string before/);
  });

  it('a rejected reading teaches nothing', () => {
    const t = new FieldTypes();
    t.check(r({ a: 1 }));
    expect(t.check(r({ a: 'x', b: 'y' }))).toBeDefined();
    expect(t.check(r({ b: 2 }))).toBeUndefined();
  });
});
