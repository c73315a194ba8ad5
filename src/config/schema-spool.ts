/**
 * The `spool:` section: where accepted messages wait until every output has written them
 * (journal directory, fsync policy, quota and its policy). Mounted by schema.ts.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { text, type SchemaContext } from './schema-fields.js';
import { formatDuration, parseDuration, parseSize } from './units.js';

const MiB = 1024 * 1024;
const MIN_SEGMENT = 4096;

/** A size without a default (the default depends on another key); parsed to bytes. */
function optionalSize(about: string, min: number) {
  return z
    .union([z.string(), z.number()], { error: 'expected a size such as "64MiB" or a number of bytes' })
    .transform((v, ctx) => {
      const r = parseSize(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: v });
      else if (r.value < min) ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes`, input: v });
      return r.ok ? r.value : z.NEVER;
    })
    .optional()
    .describe(`${about} Size: "512KiB", "64MiB", "1GiB" or a number of bytes.`);
}

/** `always`, or a duration between fsyncs. */
const syncField = z
  .union([z.string(), z.number()], { error: 'expected "always" or a duration such as "100ms"' })
  .transform((v, ctx): 'always' | number => {
    if (v === 'always') return 'always';
    const r = parseDuration(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `${r.error}, or "always"`, input: v });
    else if (r.value < 1 || r.value > 60_000)
      ctx.addIssue({ code: 'custom', message: `must be between 1ms and ${formatDuration(60_000)}, or "always"`, input: v });
    return r.ok ? r.value : z.NEVER;
  })
  .prefault('100ms')
  .describe(
    'When the journal is fsynced: "always" (after every append: power loss costs nothing, slowest) or a duration such as "100ms" (power loss costs at most that much; kill -9 costs nothing either way). Default 100ms.',
  );

/** The `spool:` section; the default dir is $STATE_DIRECTORY/spool (systemd), else ./spool next to the config file. */
export function spoolSchema(sctx: SchemaContext) {
  return z
    .strictObject({
      mode: z
        .enum(['durable', 'memory'])
        .default('durable')
        .describe(
          'durable: messages are journaled on disk before they are acknowledged (survives outages, kill -9, restarts); memory: a bounded RAM queue, acknowledged on receipt, lost in a crash. Default durable.',
        ),
      dir: text()
        .optional()
        .describe(
          'Journal directory (durable mode), relative to the config file. Default $STATE_DIRECTORY/spool when set (systemd StateDirectory=), else ./spool; for the service: /var/lib/edgeflux/spool.',
        ),
      sync: syncField,
      max_bytes: optionalSize('Quota: the most the spool holds. Default 1GiB (durable) or 64MiB (memory).', 64 * 1024),
      segment_bytes: optionalSize(
        'Journal segment size; space is freed a whole segment at a time. Default 16MiB (at most a quarter of max_bytes).',
        MIN_SEGMENT,
      ),
      policy: z
        .enum(['drop-oldest', 'block'])
        .default('drop-oldest')
        .describe(
          'At the quota: drop-oldest (telemetry: the oldest messages are dropped and counted) or block (stop acknowledging: the broker keeps the data). Default drop-oldest.',
        ),
    })
    .transform((s, ctx) => {
      const maxBytes = s.max_bytes ?? (s.mode === 'memory' ? 64 * MiB : 1024 * MiB);
      if (s.mode === 'durable' && s.segment_bytes !== undefined && s.segment_bytes * 4 > maxBytes) {
        ctx.addIssue({
          code: 'custom',
          message: `must be at most a quarter of max_bytes (${maxBytes} bytes): the quota frees space a whole segment at a time`,
          path: ['segment_bytes'],
          input: s.segment_bytes,
        });
      }
      const stateDir = (sctx.env ?? process.env).STATE_DIRECTORY?.split(':')[0];
      const dir = s.dir !== undefined ? resolve(sctx.baseDir, s.dir) : stateDir ? join(resolve(stateDir), 'spool') : resolve(sctx.baseDir, 'spool');
      const segmentBytes = s.segment_bytes ?? Math.max(MIN_SEGMENT, Math.min(16 * MiB, Math.floor(maxBytes / 4)));
      return { mode: s.mode, dir, sync: s.sync, max_bytes: maxBytes, segment_bytes: segmentBytes, policy: s.policy };
    })
    .prefault({})
    .describe('Where accepted messages wait until every output has written them: mode, journal directory, fsync policy, quota and what happens at the quota.');
}
