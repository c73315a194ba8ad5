/**
 * The embedded broker's doors: listeners (plain, TLS), who may connect (users, password
 * file, anonymous policy), what they may do (ACLs) and input limits. Mounted under
 * `broker:` by schema.ts; the daemon turns the result into EmbeddedBroker options.
 */
import { z } from 'zod';
import { notBoth, readSecretPerPolicy, secretFields as secret, type ReadSecretOptions } from './secrets.js';
import { parseSize } from './units.js';
import { hashError, parsePasswordFile } from '../util/passwords.js';
import { filterError } from '../util/topic-template.js';
import { boolText, digits, durationField as duration, ENV_HINT, int, sizeField as size, text } from './schema-fields.js';

const patterns = (about: string) =>
  z
    .array(
      z.string().superRefine((f, ctx) => {
        const e = filterError(f);
        if (e) ctx.addIssue({ code: 'custom', message: `invalid topic filter: ${e}` });
      }),
    )
    .default([])
    .describe(about);

function brokerSecurityFields(plain: ReadSecretOptions, pem: ReadSecretOptions) {
  const tls = z
    .strictObject({
      host: z.string().min(1).optional().describe('Address of the TLS listener. Default: broker.host.'),
      port: z.preprocess(digits, z.int().min(0).max(65535)).prefault(8883).describe('TLS port; 0 = any free port. Default 8883.'),
      ...secret('cert', 'Server certificate chain, PEM.', pem),
      ...secret('key', 'Server private key, PEM.', pem),
      ...secret('ca', 'CA that signs client certificates, PEM (for client_certs).', pem),
      client_certs: z
        .enum(['none', 'optional', 'required'])
        .default('none')
        .describe("Ask clients for a certificate signed by `ca`; a verified certificate's CN is the username. Default none."),
    })
    .superRefine(...notBoth('cert', 'key', 'ca'))
    .superRefine(
      (t, ctx) => {
        if (t.cert === undefined && t.cert_file === undefined)
          ctx.addIssue({ code: 'custom', message: 'a TLS listener needs cert_file (or cert)', path: ['cert_file'] });
        if (t.key === undefined && t.key_file === undefined)
          ctx.addIssue({ code: 'custom', message: 'a TLS listener needs key_file (or key)', path: ['key_file'] });
        if (t.client_certs !== 'none' && t.ca === undefined && t.ca_file === undefined) {
          ctx.addIssue({ code: 'custom', message: 'client_certs needs ca_file: the CA that signs client certificates', path: ['client_certs'] });
        }
      },
      { when: () => true },
    )
    .transform((t) => ({
      ...(t.host !== undefined && { host: t.host }),
      port: t.port,
      cert: (t.cert ?? t.cert_file)!,
      key: (t.key ?? t.key_file)!,
      ...((t.ca ?? t.ca_file) !== undefined && { ca: (t.ca ?? t.ca_file)! }),
      client_certs: t.client_certs,
    }))
    .describe('A TLS listener (MQTT over TLS).');

  const user = z
    .strictObject({
      username: z
        .string()
        .regex(/^[^:\s]+$/, 'no ":" or white space')
        .describe('User name.'),
      password_hash: z
        .string()
        .superRefine((h, ctx) => {
          const e = hashError(h);
          if (e) ctx.addIssue({ code: 'custom', message: e });
        })
        .describe('scrypt hash made by `edgeflux passwd` (never the password itself).'),
    })
    .describe('A user of the embedded broker.');

  const passwordFile = z
    .string()
    .min(1)
    .transform(async (path, ctx) => {
      const r = await readSecretPerPolicy(path, plain);
      if (r === undefined) return []; // not read (a tool that needs no users)
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error, input: path });
        return z.NEVER;
      }
      const { entries, errors } = parsePasswordFile(r.value);
      for (const e of errors) ctx.addIssue({ code: 'custom', message: `${path}:${e.line}: ${e.message}`, input: path });
      return entries.map((e) => ({ username: e.username, password_hash: e.hash }));
    })
    .describe('Password file made by `edgeflux passwd USER --file FILE` (lines username:hash), relative to the config file.');

  return {
    plaintext: z.preprocess(boolText, z.boolean()).default(true).describe('Listen for plain MQTT on host:port. Default true; false = TLS only.'),
    tls: tls.optional(),
    anonymous: z
      .enum(['never', 'loopback', 'always'])
      .default('loopback')
      .describe('Clients without a username: never, only from loopback addresses (default), or always (unsafe beyond a trusted network).'),
    users: z.array(user).default([]).describe('Users, with password hashes from `edgeflux passwd`.'),
    password_file: passwordFile.optional(),
    client_id: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Client ids a user may use, e.g. "%u-*" (%u = username, * = anything; case and invisible characters ignored). Absent: any. Either way a client id belongs to the first user that used it (kept in the spool dir).',
      ),
    acl: z
      .array(
        z
          .strictObject({
            user: z.string().min(1).describe('A username, "*" for every user, or "anonymous".'),
            publish: patterns('Topic filters this user may publish to; %u = username, %c = client id.'),
            subscribe: patterns('Topic filters this user may subscribe to; %u = username, %c = client id.'),
          })
          .describe('Access for one user.'),
      )
      .optional()
      .describe('Who may publish and subscribe where. Absent: every admitted client may use every topic except $SYS; present: what no entry grants is denied.'),
    limits: z
      .strictObject({
        max_packet: size('1MiB', 'Largest MQTT packet; a larger one ends the connection before it is buffered.'),
        max_connections: int(1, 1_000_000).default(1000).describe('Simultaneous connections. Default 1000.'),
        max_connections_per_address: int(1, 1_000_000)
          .default(32)
          .describe('Simultaneous connections from one address (so that one host cannot take them all). Default 32.'),
        connect_timeout: duration('5s', 'A connection that has not sent its whole CONNECT by then is closed. Default 5s.', 100),
        max_queued_messages: int(1, 10_000_000)
          .default(1000)
          .describe(
            'QoS 1/2 messages queued per persistent session (clean=false) while its client is away or has not acknowledged them; beyond, new ones are dropped and counted (broker_queue_dropped), as mosquitto does. Default 1000.',
          ),
        max_topic_length: int(1, 65535).default(256).describe('Longest topic accepted in a publish, in UTF-8 bytes. Default 256.'),
        max_topic_levels: int(1, 100).default(16).describe('Most topic levels. Default 16.'),
        max_rate: int(0, 1_000_000).default(0).describe("Publishes per second per client (burst: one second's worth); 0 = no limit (default)."),
        retained: z
          .strictObject({
            max_payload: z
              .union([z.string(), z.number()], { error: 'expected a size such as "64KiB" or a number of bytes' })
              .transform((v, ctx) => {
                const r = parseSize(v);
                if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
                return r.ok ? r.value : 0;
              })
              .optional()
              .describe('Largest retained payload. Default: limits.max_payload (256KiB).'),
            max_per_user: int(0, 10_000_000).default(1000).describe('Retained messages per user (anonymous clients share one budget). Default 1000.'),
            max_bytes_per_user: size('1MiB', 'Bytes (topic + payload) of retained messages per user. Default 1MiB.'),
            max_total: int(0, 10_000_000).default(10_000).describe('Retained messages over all users. Default 10000.'),
            max_bytes_total: size('10MiB', 'Bytes of retained messages over all users. Default 10MiB.'),
          })
          .prefault({})
          .describe(
            'Bounds on retained messages; a retained publish beyond one is refused (no PUBACK, connection closed, counted). A zero-length retained publish clears and is always allowed.',
          ),
      })
      .prefault({})
      .describe('Input limits; exceeding one refuses or disconnects the client, counted.'),
  };
}

/** The `broker:` section (optional): the embedded MQTT broker, where it listens and its doors. */
export function brokerSchema(plain: ReadSecretOptions, pem: ReadSecretOptions) {
  return z
    .strictObject({
      host: text().default('127.0.0.1').describe('Address to bind. Default 127.0.0.1.'),
      port: int(0, 65535).prefault(1883).describe(`TCP port; 0 = any free port. Default 1883${ENV_HINT}.`),
      ...brokerSecurityFields(plain, pem),
    })
    .superRefine(brokerCrossChecks)
    .transform(({ password_file, users, ...b }) => ({ ...b, users: [...users, ...(password_file ?? [])] }))
    .optional()
    .describe('The embedded MQTT broker (in process). Absent: none.');
}

/** Checks across the broker's keys: usernames unique over `users` and `password_file`. */
function brokerCrossChecks(
  b: { users: readonly { username: string }[]; password_file?: readonly { username: string }[] | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  const seen = new Set<string>();
  for (const u of [...b.users, ...(b.password_file ?? [])]) {
    if (seen.has(u.username)) ctx.addIssue({ code: 'custom', message: `user "${u.username}" is defined twice (users and password_file)`, path: ['users'] });
    seen.add(u.username);
  }
}
