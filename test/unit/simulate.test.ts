import { describe, expect, it } from 'vitest';
import { makeDevices, nextPayload, step, topicFor } from '../../src/cli/simulate.js';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe('simulate traffic', () => {
  it('makes N distinct devices with plausible starting values', () => {
    const ds = makeDevices(20, seeded(1));
    expect(new Set(ds.map((d) => `${d.location}/${d.device}`)).size).toBe(20);
    for (const d of ds) {
      expect(d.temperature).toBeGreaterThanOrEqual(15);
      expect(d.temperature).toBeLessThanOrEqual(25);
      expect(d.humidity).toBeGreaterThanOrEqual(35);
      expect(d.humidity).toBeLessThanOrEqual(65);
    }
  });

  it('random-walks in small steps and stays in bounds', () => {
    const rnd = seeded(7);
    const [d] = makeDevices(1, rnd);
    for (let i = 0; i < 10_000; i++) {
      const before = { t: d!.temperature, h: d!.humidity };
      step(d!, rnd);
      expect(Math.abs(d!.temperature - before.t)).toBeLessThanOrEqual(0.21);
      expect(Math.abs(d!.humidity - before.h)).toBeLessThanOrEqual(0.51);
      expect(d!.humidity).toBeGreaterThanOrEqual(0);
      expect(d!.humidity).toBeLessThanOrEqual(100);
    }
  });

  it('fills the topic template', () => {
    const [d] = makeDevices(1, seeded(3));
    expect(topicFor('sensors/{location}/{device}/climate', d!)).toBe(`sensors/${d!.location}/${d!.device}/climate`);
  });

  it('emits bad payloads at about the given ratio, good ones as JSON readings', () => {
    const rnd = seeded(11);
    const [d] = makeDevices(1, rnd);
    let bad = 0;
    for (let i = 0; i < 10_000; i++) {
      const p = nextPayload(d!, 0.1, rnd);
      if (p.bad) bad++;
      else expect(JSON.parse(p.payload)).toEqual({ temperature: d!.temperature, humidity: d!.humidity });
    }
    expect(bad).toBeGreaterThan(800);
    expect(bad).toBeLessThan(1200);
    expect(Array.from({ length: 100 }, () => nextPayload(d!, 0, rnd).bad).some(Boolean)).toBe(false);
  });
});
