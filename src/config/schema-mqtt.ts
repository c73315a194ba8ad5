/**
 * The `mqtt:` section: external brokers to subscribe to (URL, session, TLS, credentials,
 * topic filters). Mounted by schema.ts.
 */
import { z } from 'zod';
import { filterError } from '../util/topic-template.js';
import { notBoth, secretFields as secret, type ReadSecretOptions } from './secrets.js';
import { backoff, bool, digits, durationField as duration, ENV_HINT, id, secretReading, text, url, type SchemaContext } from './schema-fields.js';

/** TLS settings of a client connection; `*_file` keys read as PEM. */
function tlsSchema(pem: ReadSecretOptions) {
  return z
    .strictObject({
      ...secret('ca', 'CA certificate(s), PEM.', pem),
      ...secret('cert', 'Client certificate, PEM.', pem),
      ...secret('key', 'Client private key, PEM.', pem),
      reject_unauthorized: bool().prefault(true).describe(`Verify the server certificate. Default true${ENV_HINT}.`),
    })
    .superRefine(...notBoth('ca', 'cert', 'key'))
    .superRefine(
      (t, ctx) => {
        const has = (n: 'cert' | 'key') => t?.[n] !== undefined || t?.[`${n}_file`] !== undefined;
        if (has('cert') !== has('key'))
          ctx.addIssue({ code: 'custom', message: 'a client certificate needs both cert and key', path: [has('cert') ? 'key_file' : 'cert_file'] });
      },
      { when: () => true },
    )
    .transform((t) => ({ ca: t.ca ?? t.ca_file, cert: t.cert ?? t.cert_file, key: t.key ?? t.key_file, reject_unauthorized: t.reject_unauthorized }))
    .describe('TLS settings (use an mqtts:// or wss:// URL).');
}

const subscriptionSchema = z
  .strictObject({
    topic: z
      .string()
      .superRefine((f, ctx) => {
        const e = filterError(f);
        if (e) ctx.addIssue({ code: 'custom', message: e });
      })
      .describe('MQTT topic filter; "$share/<group>/<filter>" splits one stream among instances.'),
    qos: z
      .preprocess(digits, z.literal([0, 1, 2]))
      .prefault(1)
      .describe('0, 1 or 2. Default 1.'),
  })
  .describe('A topic filter to subscribe to.');

/** One external broker; the default client id is `edgeflux-<hostname>-<id>`. */
export function mqttSourceSchema(sctx: SchemaContext) {
  const { plain, pem } = secretReading(sctx);
  const tls = tlsSchema(pem);
  return z
    .strictObject({
      id: id('Unique id of this source (in logs, metrics and the default client id).'),
      url: url(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'Broker URL: mqtt://host:1883, mqtts:// for TLS, ws:// or wss://.'),
      protocol_version: z
        .preprocess(digits, z.literal([4, 5]))
        .prefault(4)
        .describe('4 (MQTT 3.1.1) or 5. Default 4.'),
      client_id: text().max(65535).optional().describe('Stable client id, so the broker keeps the session. Default edgeflux-<hostname>-<id>.'),
      clean: bool().prefault(false).describe('Start a clean session (false: persistent session, missed QoS 1 messages are redelivered). Default false.'),
      session_expiry: duration('1d', 'MQTT 5 session expiry.', 0, (2 ** 32 - 1) * 1000),
      keepalive: duration('30s', 'Keepalive interval.', 0, 65535 * 1000),
      connect_timeout: duration('10s', 'Connect timeout.', 1),
      reconnect: backoff('Reconnect backoff (capped, with jitter).'),
      username: text().optional().describe('Username.'),
      ...secret('password', 'Password.', plain),
      tls: tls.optional(),
      subscriptions: z
        .array(subscriptionSchema)
        .min(1)
        .optional()
        .describe('Topic filters to subscribe to. Default: what the rules and device profiles need, at QoS 1, without overlaps.'),
    })
    .superRefine(...notBoth('password'))
    .transform((m, ctx) => {
      if (m.tls && /^(mqtt|ws):/.test(m.url)) {
        ctx.addIssue({ code: 'custom', message: 'tls is set but the URL is not mqtts:// or wss://', path: ['tls'] });
      }
      const { password_file, client_id, ...rest } = m;
      return { ...rest, password: m.password ?? password_file, client_id: client_id ?? `edgeflux-${sctx.hostname}-${m.id}` };
    })
    .describe('An external MQTT broker to subscribe to.');
}
