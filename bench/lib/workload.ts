/**
 * The workload of a benchmark cell: which payloads are sent, how many devices send them and
 * over which path they reach the system under test. One place says, per payload kind, the
 * topic, the bytes, how edgeflux is configured for it (as the README tells users to) and how
 * the verifier finds the step's readings in influxd again.
 *
 * Every message carries a sequence number (`seq`, reading 0, 1, 2, … of the step, going to
 * device `seq % devices`) somewhere a user's device could have put a counter, so that a
 * missing message can be named; the other values are drawn from realistic ranges by a hash
 * of `seq` (1–3 decimals, not halves: values that are cheap to format are not the only ones
 * measured). Timestamps are per device (`base + seq / devices` ms), so no two readings of a
 * series collapse into one point whatever the rate.
 *
 * The devices are the same in every step (`d0000`…): a real site has a fixed set of series,
 * and a new set per step would measure series creation (in influxd, and in edgeflux's device
 * tracking) instead. A step's readings are told apart by time: each step's timestamps (event
 * time in the payload, or arrival time) start after the previous step's ended (`from`); only
 * `point` keeps a `run` tag per step (the outage and edgeflux-shaped count by it).
 *
 * - `point`: the original workload, `{"seq":N,"v":D.5,"ts":µs}` on `bench/<system>/<run>/<device>/m`
 *   (kept for the outage run and edgeflux-shaped);
 * - `flat`: a flat JSON reading, five floats (1–3 decimals), two integers, a boolean, a
 *   string tag on one message in 16, ms timestamp (`json` rule with `time_key`);
 * - `tasmota`: a Tasmota `tele/<topic>/SENSOR` message (ENERGY, AM2301 and COUNTER sensor
 *   objects, the counter carrying `seq`: three points per message), the shipped profile;
 * - `z2m`: a Zigbee2MQTT device state with string-encoded numbers, the shipped profile;
 * - `lp`: one line of InfluxDB line protocol (ns timestamp), a `line_protocol` rule.
 */
export { deviceName } from './readings.js';

export type PayloadKind = 'point' | 'flat' | 'tasmota' | 'z2m' | 'lp';
export const PAYLOAD_KINDS: readonly PayloadKind[] = ['point', 'flat', 'tasmota', 'z2m', 'lp'];

/**
 * How the messages reach the system: through the external mosquitto (one publisher
 * connection), straight into edgeflux's embedded broker (one connection per device, QoS 1
 * with `window` messages in flight on each), or as lines on serial ports (socat ptys).
 */
export type SourceKind = 'mosquitto' | 'embedded' | 'serial';

export interface Workload {
  readonly source: SourceKind;
  readonly payload: PayloadKind;
  readonly devices: number;
  /** Publisher connections (embedded: one per device); 1 = the single load-generator connection. */
  readonly connections: number;
  /** QoS 1 messages in flight per connection. */
  readonly window: number;
}

export const DEFAULT_WORKLOAD: Workload = { source: 'mosquitto', payload: 'point', devices: 100, connections: 1, window: 20_000 };

/** A 32-bit hash of `seq` and a salt: the "measured" values, deterministic and irregular. */
function h(seq: number, salt: number): number {
  let x = Math.imul(seq ^ salt, 0x9e3779b1);
  x = Math.imul(x ^ (x >>> 15), 0x85ebca77);
  return (x ^ (x >>> 13)) >>> 0;
}

/**
 * `lo + (hash mod span·10^decimals) / 10^decimals`, rounded to `decimals` as a device prints it
 * (21.53, never 21.529999999999998), written in the shortest form (21.5, 21.53).
 */
function value(seq: number, salt: number, lo: number, span: number, decimals: number): number {
  const scale = 10 ** decimals;
  return fix(lo + (h(seq, salt) % (span * scale)) / scale, decimals);
}

const fix = (x: number, d: number): number => Number(x.toFixed(d));

/** The ms timestamp of reading `seq`: its device's own clock, one ms per reading of that device. */
export const tsMs = (seq: number, devices: number, baseMs: number): number => baseMs + Math.floor(seq / devices);

const TAGS = ['door_open', 'low_battery', 'tamper', 'reboot'];

export interface PayloadSpec {
  /** The topic of device `device`'s messages in one step (`system` keeps the systems' streams apart). */
  topic(system: string, run: string, device: string): string;
  /** The payload of reading `seq` (`baseMs`: the step's base time in ms). */
  payload(seq: number, devices: number, baseMs: number): string;
  /** Where the verifier counts: the measurement, the field holding `seq`, and the step's readings (InfluxQL WHERE). */
  readonly measurement: string;
  readonly seqField: string;
  where(step: StepKey): string;
  /** Time comes from the payload (`base + seq / devices` ms), not from the arrival. */
  readonly eventTime: boolean;
  /** Points each message becomes. */
  readonly pointsPerMessage: number;
  /** What a message looks like, for the results. */
  readonly example: string;
}

/** One step as the verifier finds it: its `run` (the `point` payload's tag) and the time its readings start at. */
export interface StepKey {
  readonly run: string;
  /** Every reading of the step is at or after this, ms since the epoch; none of the step before is. */
  readonly fromMs: number;
}

const quote = (s: string): string => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
const byRunTag = (k: StepKey): string => `"run"='${quote(k.run)}'`;
const byTime = (k: StepKey): string => `time >= ${Math.floor(k.fromMs)}000000`;

/** The steady topic level where `point` has the step's run. */
const LIVE = 'live';

function flat(seq: number, devices: number, baseMs: number): string {
  const tag = seq % 16 === 5 ? `,"event":"${TAGS[h(seq, 7) % TAGS.length]}"` : '';
  return (
    `{"temperature":${value(seq, 1, 15, 15, 2)},"humidity":${value(seq, 2, 30, 40, 1)},"pressure":${value(seq, 3, 980, 60, 2)},` +
    `"battery":${value(seq, 4, 2, 1, 3)},"co2":${value(seq, 5, 400, 1200, 1)},"rssi":${-40 - (h(seq, 6) % 50)},"seq":${seq},` +
    `"motion":${(h(seq, 8) & 1) === 1}${tag},"ts":${tsMs(seq, devices, baseMs)}}`
  );
}

function tasmota(seq: number): string {
  const total = value(seq, 11, 100, 900, 3);
  const power = 20 + (h(seq, 12) % 2000);
  const voltage = 225 + (h(seq, 13) % 12);
  return (
    `{"Time":"2026-12-06T02:35:${String(seq % 60).padStart(2, '0')}","ENERGY":{"TotalStartTime":"2025-03-14T09:12:44","Total":${total},` +
    `"Yesterday":${value(seq, 14, 0, 8, 3)},"Today":${value(seq, 15, 0, 8, 3)},"Period":${h(seq, 16) % 9},"Power":${power},` +
    `"ApparentPower":${power + (h(seq, 17) % 40)},"ReactivePower":${h(seq, 18) % 60},"Factor":${value(seq, 19, 0, 1, 2)},` +
    `"Voltage":${voltage},"Current":${fix(power / voltage, 3)}},"AM2301":{"Temperature":${value(seq, 1, 15, 15, 1)},` +
    `"Humidity":${value(seq, 2, 30, 40, 1)},"DewPoint":${value(seq, 20, 5, 10, 1)}},"COUNTER":{"C1":${seq}},"TempUnit":"C"}`
  );
}

function z2m(seq: number): string {
  return (
    `{"battery":${h(seq, 21) % 101},"humidity":"${value(seq, 2, 30, 40, 2)}","linkquality":${h(seq, 22) % 256},` +
    `"pressure":"${value(seq, 3, 980, 60, 1)}","temperature":"${value(seq, 1, 15, 15, 2)}","voltage":${2800 + (h(seq, 23) % 400)},` +
    `"battery_low":${h(seq, 24) % 10 === 0},"last_seen":"2026-12-06T02:35:00.000Z","count":${seq}}`
  );
}

function lp(seq: number, devices: number, baseMs: number): string {
  return (
    `environment,sensor=bme280 temperature=${value(seq, 1, 15, 15, 2)},humidity=${value(seq, 2, 30, 40, 1)},` +
    `pressure=${value(seq, 3, 980, 60, 2)},seq=${seq}i ${tsMs(seq, devices, baseMs)}000000`
  );
}

export const PAYLOADS: Readonly<Record<PayloadKind, PayloadSpec>> = {
  point: {
    topic: (system, run, device) => `bench/${system}/${run}/${device}/m`,
    // µs timestamps: the base time is taken in µs for this kind (see tsBase).
    payload: (seq, _devices, baseUs) => `{"seq":${seq},"v":${(seq % 1000) + 0.5},"ts":${baseUs + seq}}`,
    measurement: 'm',
    seqField: 'seq',
    where: byRunTag,
    eventTime: true,
    pointsPerMessage: 1,
    example: '{"seq":N,"v":D.5,"ts":µs}',
  },
  flat: {
    topic: (system, _run, device) => `bench/${system}/${LIVE}/${device}/m`,
    payload: flat,
    measurement: 'm',
    seqField: 'seq',
    where: byTime,
    eventTime: true,
    pointsPerMessage: 1,
    example: flat(5, 100, 1_765_000_000_000),
  },
  tasmota: {
    topic: (system, _run, device) => `bench/${system}/tele/${device}/SENSOR`,
    payload: tasmota,
    measurement: 'tasmota',
    seqField: 'c1',
    where: byTime,
    eventTime: false,
    pointsPerMessage: 3,
    example: tasmota(5),
  },
  z2m: {
    topic: (system, _run, device) => `bench/${system}/z2m/${device}`,
    payload: z2m,
    measurement: 'zigbee2mqtt',
    seqField: 'count',
    where: byTime,
    eventTime: false,
    pointsPerMessage: 1,
    example: z2m(5),
  },
  lp: {
    topic: (system, _run, device) => `bench/${system}/lp/${device}`,
    payload: lp,
    measurement: 'environment',
    seqField: 'seq',
    where: byTime,
    eventTime: true,
    pointsPerMessage: 1,
    example: lp(5, 100, 1_765_000_000_000),
  },
};

/** The base time a step's payloads count from: µs for `point` (its timestamps are µs), else ms. */
export function tsBase(kind: PayloadKind): number {
  return kind === 'point' ? Date.now() * 1000 : Date.now();
}

/** Per database and payload: where the last step's timestamps ended (ms), so that the next one starts after them. */
const stepEnds = new Map<string, number>();

/**
 * The next step of `kind` into database `db`: its `from` (and, with event time, its base
 * time) is now, or just after the previous step's last event time when that ran ahead of
 * the clock (more than 1,000 readings per second per device).
 */
export function nextStep(db: string, kind: PayloadKind, run: string): StepKey & { readonly base: number } {
  if (kind === 'point') return { run, fromMs: Date.now(), base: tsBase(kind) };
  const fromMs = Math.max(Date.now(), (stepEnds.get(`${db}/${kind}`) ?? 0) + 1);
  return { run, fromMs, base: fromMs };
}

/** Records where a step's timestamps ended: its last event time, or (arrival time) the moment it was verified. */
export function endStep(db: string, kind: PayloadKind, key: { readonly base: number }, count: number, devices: number): void {
  const end = PAYLOADS[kind].eventTime ? tsMs(Math.max(0, count - 1), devices, key.base) : Date.now();
  stepEnds.set(`${db}/${kind}`, Math.max(end, Date.now()));
}

type Json = Record<string, unknown>;

/**
 * The parts of edgeflux's config that decode this payload, written as the README shows
 * users: a `json` rule with `time_key`, the shipped `tasmota` / `zigbee2mqtt` profiles (their
 * topic prefix moved under `bench/<system>/` with `vars`), a `line_protocol` rule. `topicRoot`
 * is the serial port's id for serial sources (its messages' topic), else `bench/<system>`.
 */
export function edgefluxDecoding(kind: PayloadKind, system: string, serialId?: string): { rules: Json[]; devices?: Json[] } {
  switch (kind) {
    case 'point':
      return {
        rules: [{ topic: 'bench/{system}/{run}/{device}/{measurement}', format: 'json', json: { time_key: 'ts', time_unit: 'us', integers: ['seq'] } }],
      };
    case 'flat':
      if (serialId) {
        return {
          rules: [
            { topic: serialId, format: 'json', measurement: 'm', json: { time_key: 'ts', time_unit: 'ms', integers: ['seq', 'rssi'], tag_keys: ['device'] } },
          ],
        };
      }
      return {
        rules: [{ topic: 'bench/{system}/{run}/{device}/{measurement}', format: 'json', json: { time_key: 'ts', time_unit: 'ms', integers: ['seq', 'rssi'] } }],
      };
    case 'tasmota':
      return { rules: [], devices: [{ profile: 'tasmota', vars: { prefix: `bench/${system}/tele` } }] };
    case 'z2m':
      return { rules: [], devices: [{ profile: 'zigbee2mqtt', vars: { base: `bench/${system}/z2m` } }] };
    case 'lp':
      return { rules: [{ topic: 'bench/{system}/lp/{device}', format: 'line_protocol' }] };
  }
}

export function describeWorkload(w: Workload): string {
  const via =
    w.source === 'mosquitto' ? 'mosquitto' : w.source === 'embedded' ? `embedded broker, ${w.connections} connections × ${w.window} in flight` : 'serial ptys';
  return `${w.payload}, ${w.devices.toLocaleString('en-US')} devices, ${via}`;
}
