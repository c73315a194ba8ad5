/**
 * What the load generator sends and the verifier looks for, in one place.
 *
 * Reading number `seq` (0, 1, 2, … within one step) goes to device `seq % devices`, on
 * topic `bench/<system>/<run>/<device>/m`, with payload `{"seq":…,"v":…,"ts":…}` where
 * `ts` (µs) = the step's base time + seq: every reading has its own timestamp, so none
 * can collapse into another in InfluxDB, and a missing one can be named.
 * Each system maps the topic to measurement `m`, tags `system`, `run`, `device`, and
 * fields `seq` (integer) and `v` (float), into its own database.
 */

export const MEASUREMENT = 'm';

export function deviceName(seq: number, devices: number): string {
  return 'd' + String(seq % devices).padStart(3, '0');
}

export function topicPrefix(system: string, run: string): string {
  return `bench/${system}/${run}`;
}

export function topicOf(prefix: string, device: string): string {
  return `${prefix}/${device}/${MEASUREMENT}`;
}

/** `v` is a half (exact in binary), so the payload's length is bounded: `{"seq":N,"v":D.5,"ts":T}`. */
export function payloadOf(seq: number, tsBaseUs: number): string {
  return `{"seq":${seq},"v":${(seq % 1000) + 0.5},"ts":${tsBaseUs + seq}}`;
}

/** The database each system writes to (separate, so field types never conflict). */
export function databaseOf(system: string): string {
  return `bench_${system.replace(/[^a-z0-9]/gi, '_')}`;
}
