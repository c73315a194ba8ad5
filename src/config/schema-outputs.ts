/**
 * The `outputs:` section: the InfluxDB servers readings are written to (1.x `/write`,
 * 2.x/3.x `/api/v2/write`), with batching, retry and concurrency per output. Mounted by
 * schema.ts.
 */
import { z } from 'zod';
import { notBoth, secretFields as secret, type ReadSecretOptions } from './secrets.js';
import { backoff, bool, durationField as duration, ENV_HINT, id, int, text, url } from './schema-fields.js';

/** At least one output; each an `influxdb_v1` or `influxdb_v2` entry. `plain`: how password and token files are read. */
export function outputsSchema(plain: ReadSecretOptions) {
  const outputBase = {
    id: id('Unique id of this output.'),
    url: url(['http:', 'https:'], 'InfluxDB base URL, e.g. http://127.0.0.1:8086.'),
    timeout: duration('10s', 'Timeout per write request.', 1),
    gzip: bool().prefault(false).describe('Compress request bodies. Default false.'),
    batch: z
      .strictObject({
        max_points: int(1, 1_000_000).prefault(5000).describe(`Points per write, at most. Default 5000${ENV_HINT}.`),
        max_age: duration('1s', 'Oldest point in a batch, at most.', 1),
      })
      .prefault({})
      .describe('A batch is written when it is full or old enough, whichever comes first.'),
    retry: backoff('Retry backoff for failed writes (exponential, with jitter; Retry-After honoured).'),
    concurrency: int(1, 64).prefault(1).describe(`Write requests in flight. Default 1${ENV_HINT}.`),
  };
  const influxV1 = z
    .strictObject({
      type: z.literal('influxdb_v1').describe('InfluxDB 1.x /write API.'),
      ...outputBase,
      database: text().describe('Database.'),
      retention_policy: text().optional().describe('Retention policy. Default: the database default.'),
      username: text().optional().describe('Username.'),
      ...secret('password', 'Password.', plain),
    })
    .superRefine(...notBoth('password'))
    .transform(({ password_file, ...o }) => ({ ...o, password: o.password ?? password_file }));
  const influxV2 = z
    .strictObject({
      type: z.literal('influxdb_v2').describe('InfluxDB 2.x/3.x /api/v2/write API.'),
      ...outputBase,
      org: text().describe('Organization.'),
      bucket: text().describe('Bucket (InfluxDB 3: database).'),
      ...secret('token', 'API token.', plain),
    })
    .superRefine(...notBoth('token'))
    .transform(({ token_file, ...o }) => ({ ...o, token: o.token ?? token_file }));

  const needOne = (what: string) => ({
    error: (iss: { code: string; input?: unknown }) =>
      iss.code === 'too_small' || (iss.code === 'invalid_type' && iss.input === undefined) ? `at least one ${what} is required` : undefined,
  });

  return z
    .array(z.discriminatedUnion('type', [influxV1, influxV2]), needOne('output'))
    .min(1)
    .describe('Where readings are written.');
}
