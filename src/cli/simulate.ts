/**
 * `edgeflux simulate --url mqtt://127.0.0.1:1883 --devices N --rate R [--duration S]
 * [--count C] [--bad-ratio 0.01] [--qos 0|1] [--topic 'sensors/{location}/{device}/climate']`:
 * publishes realistic JSON readings (temperature and humidity random walks per device,
 * some bad payloads), paced to R messages per second in total, until the duration or the
 * count is reached. A single updating progress line on a TTY; a summary at the end.
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { UsageError } from './usage.js';
import { settlesWithin, withTimeout } from '../util/timeout.js';
import { sleep } from '../util/sleeper.js';

const LOCATIONS = ['kitchen', 'cellar', 'attic', 'garage', 'office', 'lab', 'barn', 'greenhouse'];
const BAD_PAYLOADS = ['{"temperature":', 'not json', '', '{"temperature":21.5,'];

export interface SimDevice {
  readonly location: string;
  readonly device: string;
  temperature: number;
  humidity: number;
}

/** N devices spread over a few locations, each starting from its own plausible values. */
export function makeDevices(n: number, random: () => number = Math.random): SimDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    location: LOCATIONS[i % LOCATIONS.length] as string,
    device: `sim${String(i + 1).padStart(3, '0')}`,
    temperature: round(15 + random() * 10),
    humidity: round(35 + random() * 30),
  }));
}

/** One random-walk step, kept in physical bounds. */
export function step(d: SimDevice, random: () => number = Math.random): void {
  d.temperature = round(clamp(d.temperature + (random() - 0.5) * 0.4, -30, 60));
  d.humidity = round(clamp(d.humidity + (random() - 0.5) * 1.0, 0, 100));
}

export function topicFor(template: string, d: SimDevice): string {
  return template.replaceAll('{location}', d.location).replaceAll('{device}', d.device);
}

/** The payload for the next message of a device: a reading, or (with probability `badRatio`) a bad one. */
export function nextPayload(d: SimDevice, badRatio: number, random: () => number = Math.random): { payload: string; bad: boolean } {
  if (badRatio > 0 && random() < badRatio) return { payload: BAD_PAYLOADS[Math.floor(random() * BAD_PAYLOADS.length)] as string, bad: true };
  step(d, random);
  return { payload: JSON.stringify({ temperature: d.temperature, humidity: d.humidity }), bad: false };
}

export interface SimulateOptions {
  readonly url: string;
  readonly devices: number;
  readonly rate: number;
  readonly durationS?: number;
  readonly count?: number;
  readonly badRatio: number;
  readonly qos: 0 | 1;
  readonly topic: string;
  readonly username?: string;
  readonly password?: string;
}

export interface SimulateSummary {
  sent: number;
  /** Confirmed by the broker (PUBACK); at QoS 0 only written to the socket. */
  acked: number;
  bad: number;
  failed: number;
}

/** Publishes until the count or the duration is reached (or `signal` aborts), then waits for the acks. */
export async function simulate(o: SimulateOptions, progress?: (s: SimulateSummary) => void, signal?: AbortSignal): Promise<SimulateSummary> {
  const client = await mqtt.connectAsync(o.url, {
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    clientId: `edgeflux-simulate-${process.pid}`,
    ...(o.username !== undefined && { username: o.username }),
    ...(o.password !== undefined && { password: o.password }),
  });
  const sum: SimulateSummary = { sent: 0, acked: 0, bad: 0, failed: 0 };
  const devices = makeDevices(o.devices);
  const total = o.count ?? (o.durationS !== undefined ? Math.round(o.durationS * o.rate) : Number.POSITIVE_INFINITY);
  const started = Date.now();
  let pending = 0;
  let onSettled: (() => void) | undefined;
  try {
    while (sum.sent < total && !signal?.aborted) {
      // Pace: message k goes at started + k/rate; sends in small bursts per timer tick.
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * o.rate) + 1);
      while (sum.sent < due) {
        const d = devices[sum.sent % devices.length] as SimDevice;
        const { payload, bad } = nextPayload(d, o.badRatio);
        if (bad) sum.bad++;
        sum.sent++;
        pending++;
        client.publish(topicFor(o.topic, d), payload, { qos: o.qos }, (err) => {
          pending--;
          if (err) sum.failed++;
          else sum.acked++;
          if (pending === 0) onSettled?.();
        });
      }
      progress?.(sum);
      if (sum.sent < total) await sleep(Math.max(1, Math.min(100, 1000 / o.rate)), signal);
    }
    // Acks that never come do not hang us.
    if (pending > 0) await settlesWithin(new Promise<void>((resolve) => (onSettled = resolve)), 10_000);
    progress?.(sum);
  } finally {
    await closeGracefully(client);
  }
  return sum;
}

const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Ends with a DISCONNECT after everything queued was written (at QoS 0 nothing else says
 * that the last messages went out: a forced end cut the socket with the last one still
 * unsent); forced after CLOSE_TIMEOUT_MS so that a dead broker does not hang us.
 */
async function closeGracefully(client: mqtt.MqttClient): Promise<void> {
  const ok = await withTimeout(client.endAsync(false), CLOSE_TIMEOUT_MS, 'closing the connection').then(
    () => true,
    () => false,
  );
  if (!ok) await client.endAsync(true).catch(() => undefined);
}

/** The summary line: at QoS 0 the broker confirms nothing, so no "acked". */
export function summaryLine(s: SimulateSummary, qos: 0 | 1): string {
  return qos === 0
    ? `sent ${s.sent} (QoS 0: not confirmed by the broker), bad ${s.bad}, failed ${s.failed}`
    : `sent ${s.sent}, acked ${s.acked}, bad ${s.bad}, failed ${s.failed}`;
}

export async function simulateCommand(argv: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      devices: { type: 'string', default: '10' },
      rate: { type: 'string', default: '10' },
      duration: { type: 'string' },
      count: { type: 'string' },
      'bad-ratio': { type: 'string', default: '0' },
      qos: { type: 'string', default: '0' },
      topic: { type: 'string', default: 'sensors/{location}/{device}/climate' },
      username: { type: 'string' },
      password: { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new UsageError(`--${name} must be a number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, got "${v}"`);
    return n;
  };
  const qos = num('qos', values.qos, 0, 1);
  if (qos !== 0 && qos !== 1) throw new UsageError('--qos must be 0 or 1');
  const opts: SimulateOptions = {
    url: values.url,
    devices: Math.floor(num('devices', values.devices, 1) ?? 10),
    rate: num('rate', values.rate, 0.001) ?? 10,
    ...(values.duration !== undefined && { durationS: num('duration', values.duration, 0) }),
    ...(values.count !== undefined && { count: Math.floor(num('count', values.count, 0) ?? 0) }),
    badRatio: num('bad-ratio', values['bad-ratio'], 0, 1) ?? 0,
    qos,
    topic: values.topic,
    ...(values.username !== undefined && { username: values.username }),
    ...(values.password !== undefined && { password: values.password }),
  };
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tty = out.isTTY === true;
  try {
    let s: SimulateSummary;
    try {
      const line = (p: SimulateSummary) =>
        opts.qos === 0 ? `sent ${p.sent}  bad ${p.bad}  failed ${p.failed}   ` : `sent ${p.sent}  acked ${p.acked}  bad ${p.bad}  failed ${p.failed}   `;
      s = await simulate(opts, tty ? (p) => out.write(`\r${line(p)}`) : undefined, ac.signal);
    } catch (e) {
      process.stderr.write(`edgeflux simulate: ${opts.url}: ${(e as Error).message}\n`);
      return 1;
    }
    if (tty) out.write('\n');
    out.write(`${summaryLine(s, opts.qos)}\n`);
    return s.failed > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
