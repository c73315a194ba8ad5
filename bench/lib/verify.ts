/**
 * The verifier: counts what arrived in influxd for one step (`run` tag) and, when
 * something is missing, names the missing readings (sequence number, device, timestamp).
 */
import { deviceName } from './readings.js';
import type { Influxd } from './servers.js';
import { PAYLOADS, type PayloadSpec, type StepKey } from './workload.js';

/** Messages stored for one step (0 when none): points carrying the payload's sequence field. `run`: a step of the `point` payload. */
export async function countRun(influx: Influxd, db: string, step: StepKey | string, spec: PayloadSpec = PAYLOADS.point): Promise<number> {
  const key = typeof step === 'string' ? { run: step, fromMs: 0 } : step;
  const json = await influx.query(`SELECT count("${spec.seqField}") FROM "${spec.measurement}" WHERE ${spec.where(key)}`, db);
  const v = json.results?.[0]?.series?.[0]?.values?.[0]?.[1];
  return typeof v === 'number' ? v : 0;
}

export interface Missing {
  readonly stored: number;
  readonly missing: number;
  /** Sequence numbers stored more than once or outside 0..expected-1 (should be none). */
  readonly unexpected: number;
  /** Up to `limit` ranges of missing readings, named. */
  readonly examples: string[];
}

/** Lists which of readings 0..expected-1 of a run are not in influxd (bounded: ≤ 5M readings). */
export async function findMissing(
  influx: Influxd,
  db: string,
  step: StepKey | string,
  expected: number,
  devices: number,
  tsBase: number,
  limit = 8,
  spec: PayloadSpec = PAYLOADS.point,
): Promise<Missing> {
  if (expected > 5_000_000) throw new Error(`findMissing: ${expected} readings is more than it checks`);
  const key = typeof step === 'string' ? { run: step, fromMs: 0 } : step;
  const csv = await influx.queryCsv(`SELECT "${spec.seqField}" FROM "${spec.measurement}" WHERE ${spec.where(key)}`, db, 120_000);
  const seen = new Uint8Array(expected);
  let stored = 0;
  let unexpected = 0;
  for (const line of csv.split('\n')) {
    const comma = line.lastIndexOf(',');
    if (comma < 0) continue;
    const seq = Number(line.slice(comma + 1));
    if (!Number.isInteger(seq)) continue; // header
    stored++;
    if (seq < 0 || seq >= expected || seen[seq] === 1) unexpected++;
    else seen[seq] = 1;
  }
  const examples: string[] = [];
  let missing = 0;
  for (let seq = 0; seq < expected; seq++) {
    if (seen[seq] === 1) continue;
    let end = seq;
    while (end + 1 < expected && seen[end + 1] !== 1) end++;
    missing += end - seq + 1;
    if (examples.length < limit) {
      examples.push(
        end === seq
          ? `seq ${seq} (device ${deviceName(seq, devices)}, step base time ${tsBase})`
          : `seq ${seq}–${end} (${end - seq + 1} readings, from device ${deviceName(seq, devices)}, step base time ${tsBase})`,
      );
    }
    seq = end;
  }
  return { stored, missing, unexpected, examples };
}
