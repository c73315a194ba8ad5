/**
 * `edgeflux tail --config FILE [--filter TOPIC_FILTER] [--limit N]`: connects as an MQTT
 * client to the configured broker (the embedded broker, else the first `mqtt:` source
 * with its credentials), subscribes with QoS 0 to the rules' and device profiles' filters
 * (or only to --filter), decodes every message exactly as the daemon does and prints one
 * line per reading (`topic  line-protocol`), a bad message as `! topic: reason: message`,
 * and a reading InfluxDB would reject (a field whose type differs from the one first seen)
 * as `! topic: field_type: why: line`.
 * `--unmatched` subscribes to everything (`#`) and prints only the messages that no rule
 * or profile decodes and no `ignore:` filter names, as `? topic  payload`: what to write a
 * rule (or an ignore entry) for.
 * A secured embedded broker: `--username` and `--password-file` (its `edgeflux passwd`
 * password; from loopback, anonymous clients are admitted by default). An `mqtt:` source's
 * own credentials are read from the config; one that cannot be read here (unset
 * `$CREDENTIALS_DIRECTORY`) asks for the two options.
 * It acknowledges nothing for the daemon: QoS 0, clean session, its own client id.
 */
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfig, formatIssue } from './load-config.js';
import { readSecretFile, UNREAD_SECRET } from '../config/secrets.js';
import { filterMatcher } from '../util/topic-template.js';
import type { Config } from '../config/types.js';
import { decodeDeviceMessage, defaultFilters, loadDevices } from '../devices/device-messages.js';
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
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      filter: { type: 'string' },
      limit: { type: 'string' },
      unmatched: { type: 'boolean' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
    },
  });
  if (!values.config) {
    err.write('edgeflux tail: --config FILE is required\n');
    return 2;
  }
  const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
  if (!(limit > 0)) {
    err.write(`edgeflux tail: --limit must be a positive number, got "${values.limit}"\n`);
    return 2;
  }
  if ((values.username === undefined) !== (values['password-file'] === undefined)) {
    err.write('edgeflux tail: --username and --password-file go together\n');
    return 2;
  }
  const res = await loadConfig(values.config, process.env, { secrets: 'warn' });
  if (!res.ok) {
    for (const issue of res.errors) err.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  const config = res.config;
  const found = tailTarget(config);
  if (!found) {
    err.write('edgeflux tail: the config has neither a broker nor an mqtt source\n');
    return 2;
  }
  let target = found;
  if (values.username !== undefined && values['password-file'] !== undefined) {
    const pw = await readSecretFile(values['password-file'], { baseDir: process.cwd(), trimNewline: true });
    if (!pw.ok) {
      err.write(`edgeflux tail: --password-file: ${pw.error}\n`);
      return 2;
    }
    target = { url: found.url, username: values.username, password: pw.value };
  } else if (target.password === UNREAD_SECRET) {
    err.write(`edgeflux tail: the password for ${target.url} cannot be read here (see \`edgeflux check\`); give --username and --password-file\n`);
    return 2;
  }
  const logger = createLogger({ level: 'warn', destination: process.stderr }); // stdout is for readings;
  const rules = new RuleSet(config.rules, config.limits);
  const devices = await loadDevices(config, logger);
  const unmatched = values.unmatched === true;
  const ignored = filterMatcher(config.ignore);
  const filters = values.filter !== undefined ? [values.filter] : unmatched ? ['#'] : defaultFilters(rules, devices);
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
    const refused = /not authori[sz]ed|bad user ?name or password/i.test((e as Error).message);
    const hint = refused
      ? target.username === undefined
        ? ' (the broker wants a login: --username and --password-file)'
        : ' (check the username and password)'
      : '';
    err.write(`edgeflux tail: cannot connect to ${target.url}: ${(e as Error).message}${hint}\n`);
    return 1;
  }
  const fieldTypes = new FieldTypes(); // the type rule the output's InfluxDB will apply
  let seen = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  client.on('message', (topic, payload) => {
    if (seen >= limit) return;
    if (unmatched && ignored?.(topic)) return;
    const r = decodeDeviceMessage({ sourceId: 'tail', topic, payload, receivedAt: clock.arrivalNs() }, devices?.decoders, rules);
    if (unmatched) {
      if (Array.isArray(r) || r.reason !== 'no_rule') return;
      out.write(`? ${topic}  ${excerpt(payload)}\n`);
      seen++;
    } else if (Array.isArray(r)) {
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

/** The payload as one short line: text up to 120 characters, else its size. */
function excerpt(payload: Buffer): string {
  const text = payload.toString('utf8');
  if (text.includes('\uFFFD') || payload.includes(0)) return `<${payload.length} bytes, binary>`;
  const one = text.replace(/\s+/g, ' ');
  return one.length > 120 ? `${one.slice(0, 119)}…` : one;
}
