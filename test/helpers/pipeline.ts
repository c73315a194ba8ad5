/** Helpers for the shaping-stage tests: tracked readings and timestamps. */
import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import type { SeqReading } from '../../src/pipeline/holdback.js';
import type { FieldValue } from '../../src/types.js';

/** ms → ns since the epoch, as `Reading.time`. */
export const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

export interface ReadingSpec {
  readonly t: number;
  readonly f: Readonly<Record<string, FieldValue>>;
  readonly seq?: number;
  readonly m?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

/** A tracked reading of `climate,device=d1` by default, event time `t` ms. */
export function rd({ t, f, seq = 0, m = 'climate', tags = { device: 'd1' } }: ReadingSpec): SeqReading {
  return { seq, reading: { measurement: m, tags, fields: f, time: ns(t) } };
}

/** A point as the window/throttle operators emit it. */
export function point(
  t: number,
  fields: Readonly<Record<string, FieldValue>>,
  seq: number,
  m = 'climate',
  tags: Readonly<Record<string, string>> = { device: 'd1' },
): SeqReading {
  return { seq, reading: { measurement: m, tags, fields, time: ns(t) } };
}

export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}
