import type { IClientOptions, IStore } from 'mqtt';
import type { MqttSourceConfig } from '../config/types.js';

const noLog = (): void => undefined;

/** DEBUG=mqttjs* (or any pattern naming mqttjs, or `*`) turns mqtt.js's own debug logging on. */
export function mqttDebugWanted(env: NodeJS.ProcessEnv): boolean {
  const d = env.DEBUG;
  return d !== undefined && /(^|[\s,])(\*|mqttjs[^\s,]*)/.test(d);
}

/**
 * The mqtt.js options of one source's client: connected by hand (`manualConnect`: the
 * handlers go on first), no reconnecting or resubscribing of its own (the source does both,
 * mqtt-source.ts), QoS 2 held in `incomingStore` until acked (mqtt-intake.ts).
 */
export function mqttClientOptions(c: MqttSourceConfig, incomingStore: IStore, env: NodeJS.ProcessEnv = process.env): IClientOptions {
  return {
    manualConnect: true,
    protocolVersion: c.protocol_version,
    clientId: c.client_id,
    clean: c.clean,
    keepalive: c.keepalive > 0 ? Math.max(1, Math.round(c.keepalive / 1000)) : 0,
    connectTimeout: c.connect_timeout,
    reconnectPeriod: 0, // our own backoff, see MqttSource.onClose()
    resubscribe: false, // we re-subscribe ourselves, see mqtt-subscriptions.ts
    queueQoSZero: false,
    username: c.username,
    password: c.password,
    ...(c.tls ? { ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key, rejectUnauthorized: c.tls.reject_unauthorized } : {}),
    ...(c.protocol_version === 5 && !c.clean ? { properties: { sessionExpiryInterval: Math.min(0xffffffff, Math.ceil(c.session_expiry / 1000)) } } : {}),
    incomingStore,
    writeCache: false, // see mqtt-wire.ts
    // mqtt.js logs every packet through `debug` (a few calls per message even when off);
    // unless DEBUG asks for its namespace, it gets a no-op logger instead.
    ...(mqttDebugWanted(env) ? {} : { log: noLog }),
  };
}

/** The URL without a password, should one be written into it (`mqtt://user:pw@host`); errs on the side of hiding. */
export function redactUrl(url: string): string {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (start < 0 || at < start) return url;
  const userinfo = url.slice(start + 3, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, start + 3)}${userinfo.slice(0, colon)}:[redacted]${url.slice(at)}`;
}
