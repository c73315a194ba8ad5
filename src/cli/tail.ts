/**
 * `edgeflux tail --config FILE [--filter TOPIC_FILTER] [--limit N]`: connects as an MQTT
 * client to the configured broker (the embedded broker, else the first `mqtt:` source
 * with its credentials), subscribes with QoS 0 to the rules' and device profiles' filters
 * (or only to --filter), decodes every message exactly as the daemon does and prints one
 * line per reading (`topic  line-protocol`), a bad message as `! topic: reason: message`,
 * and a reading InfluxDB would reject (a field whose type differs from the one first seen)
 * as `! topic: field_type: why: line`.
 * It acknowledges nothing for the daemon: QoS 0, clean session, its own client id.
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfig, formatIssue } from './load-config.js';
import type { Config } from '../config/types.js';
import { decodeDeviceMessage, loadDevices } from '../devices/device-messages.js';
import { RuleSet } from '../devices/rules.js';
import { systemClock } from '../clock.js';
import { createLogger } from '../observe/logger.js';
import { encodeLine } from '../sink/line-protocol.js';
import { FieldTypes } from '../sink/field-types.js';

const CONNECT_TIMEOUT_MS = 5_000;

/** Where tail connects: the embedded broker, else the first MQTT source. */
export function tailTarget(config: Config): { url: string; username?: string; password?: string } | undefined {
  if (config.broker) {
    const h = config.broker.host === '0.0.0.0' ? '127.0.0.1' : config.broker.host === '::' ? '::1' : config.broker.host;
    return { url: `mqtt://${h.includes(':') ? `[${h}]` : h}:${config.broker.port}` };
  }
  const m = config.mqtt[0];
  if (!m) return undefined;
  return { url: m.url, ...(m.username !== undefined && { username: m.username }), ...(m.password !== undefined && { password: m.password }) };
}

export async function tailCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, filter: { type: 'string' }, limit: { type: 'string' } } });
  if (!values.config) {
    err.write('edgeflux tail: --config FILE is required\n');
    return 2;
  }
  const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
  if (!(limit > 0)) {
    err.write(`edgeflux tail: --limit must be a positive number, got "${values.limit}"\n`);
    return 2;
  }
  const res = await loadConfig(values.config);
  if (!res.ok) {
    for (const issue of res.errors) err.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  const config = res.config;
  const target = tailTarget(config);
  if (!target) {
    err.write('edgeflux tail: the config has neither a broker nor an mqtt source\n');
    return 2;
  }
  const logger = createLogger({ level: 'warn', destination: process.stderr }) // stdout is for readings;
  const rules = new RuleSet(config.rules, config.limits);
  const devices = await loadDevices(config, logger);
  const filters = values.filter !== undefined ? [values.filter] : [...new Set([...rules.filters(), ...(devices?.filters ?? [])])];
  if (filters.length === 0) {
    err.write('edgeflux tail: nothing to subscribe to (no rules, no devices, no --filter)\n');
    return 2;
  }
  const clock = systemClock();
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(target.url, {
      clientId: `edgeflux-tail-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(target.username !== undefined && { username: target.username }),
      ...(target.password !== undefined && { password: target.password }),
    });
  } catch (e) {
    err.write(`edgeflux tail: cannot connect to ${target.url}: ${(e as Error).message}\n`);
    return 1;
  }
  const fieldTypes = new FieldTypes(); // the type rule the output's InfluxDB will apply
  let seen = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  client.on('message', (topic, payload) => {
    if (seen >= limit) return;
    const r = decodeDeviceMessage({ sourceId: 'tail', topic, payload, receivedAt: clock.arrivalNs() }, devices?.decoders, rules);
    if (Array.isArray(r)) {
      for (const reading of r) {
        if (seen >= limit) break;
        const line = encodeLine(reading);
        const conflict = fieldTypes.check(reading);
        if (conflict !== undefined) out.write(`! ${topic}: field_type: ${conflict}: ${line ?? ''}\n`);
        else if (line !== null) out.write(`${topic}  ${line}\n`);
        seen++;
      }
    } else {
      out.write(`! ${topic}: ${r.reason}: ${r.message}\n`);
      seen++;
    }
    if (seen >= limit) finish(0);
  });
  client.on('close', () => finish(seen >= limit ? 0 : 1));
  const stop = () => finish(0);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 0 as const }])));
    err.write(`edgeflux tail: ${target.url}, subscribed to ${filters.join(', ')}\n`);
    return await done;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await client.endAsync(true).catch(() => undefined);
  }
}
