/**
 * The `service:` section of the config file: running edgeflux as a service (the health
 * and metrics listener, health thresholds, internal metrics points, stale devices, the
 * clock check, systemd status). Every key has a default, so the section may be absent.
 * Wired into the main schema as `service: serviceSchema` (see src/config/schema.ts).
 */
import { z } from 'zod';
import { bool, durationField as duration, ENV_HINT, int as intField, numeric } from './schema-fields.js';

const int = (min: number, max: number) => intField(min, max, numeric);

export const DEFAULT_HTTP_PORT = 9274;

export const serviceSchema = z
  .strictObject({
    http: z
      .strictObject({
        enabled: bool().prefault(true).describe(`Serve /healthz and /metrics. Default true${ENV_HINT}.`),
        host: z.string().min(1).default('127.0.0.1').describe('Address to bind. Default 127.0.0.1 (loopback only).'),
        port: int(0, 65535).prefault(DEFAULT_HTTP_PORT).describe(`TCP port; 0 = any free port. Default ${DEFAULT_HTTP_PORT}${ENV_HINT}.`),
        request_timeout: duration('5s', 'Longest a request may take.', 100, 60_000),
        max_connections: int(1, 1024).prefault(16).describe(`Open connections at most. Default 16${ENV_HINT}.`),
        login: z
          .enum(['auto', 'always'])
          .default('auto')
          .describe('When the status page at / asks for a login: auto (default) = when host is not a loopback address; always.'),
        users_file: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Users of the status page (lines username:hash from `edgeflux passwd USER --file FILE`), relative to the config file. Absent: the embedded broker's users.",
          ),
      })
      .prefault({})
      .describe('The HTTP listener: the status page at / (docs/status-page.md), /healthz (200 or 503 with reasons) and /metrics (Prometheus).'),
    health: z
      .strictObject({
        no_data_after: duration('5m', 'Unhealthy when no message arrived from any source for this long; 0 = never.'),
        output_down_after: duration('1m', 'Unhealthy when an output could not write for this long.'),
        spool_near_quota: z
          .preprocess(numeric, z.number().gt(0).max(1))
          .prefault(0.9)
          .describe(`Unhealthy when the journal holds this fraction of spool.max_bytes. Default 0.9${ENV_HINT}.`),
      })
      .prefault({})
      .describe('When /healthz answers 503.'),
    internal_metrics: z
      .strictObject({
        enabled: bool().prefault(true).describe(`Write edgeflux's own figures as edgeflux_internal points. Default true${ENV_HINT}.`),
        interval: duration('10s', 'How often.', 1000),
        idle_interval: duration(
          '60s',
          "How often while idle (no message but edgeflux's own since the last report, every output up): fewer writes to an SD card. Not below interval.",
          1000,
        ),
        tags: z.record(z.string().min(1), z.string()).default({}).describe('Tags added to every edgeflux_internal point (host is always added).'),
      })
      .prefault({})
      .describe("edgeflux_internal points in every output, like Telegraf's internal input."),
    stale_devices: z
      .strictObject({
        enabled: bool().prefault(true).describe(`Watch devices for silence. Default true${ENV_HINT}.`),
        tag: z.string().min(1).default('device').describe('The tag that names a device. Default "device".'),
        factor: z
          .preprocess(numeric, z.number().min(1).max(100))
          .prefault(3)
          .describe(`Stale after this many expected intervals of silence. Default 3${ENV_HINT}.`),
        min_silence: duration('1m', 'Never stale after less silence than this.'),
        default_interval: duration('0s', 'Expected interval of devices that have none given or learned yet; 0 = judge only those.'),
        intervals: z
          .record(z.string().min(1), duration('1m', 'Expected interval.', 1))
          .default({})
          .describe('Expected intervals of named devices, e.g. { th1: 1m }.'),
        check_every: duration('10s', 'How often silence is checked.', 100),
        max_devices: int(1, 1_000_000).prefault(10_000).describe(`Devices tracked at most (least recently seen forgotten first). Default 10000${ENV_HINT}.`),
        forget_after: duration('7d', 'Forget a device silent this long.', 1),
      })
      .prefault({})
      .describe('Per-device last seen; a warning, a metric and a device_status point when a device falls silent.'),
    clock: z
      .strictObject({
        check: bool().prefault(true).describe(`Warn at start when the clock is not synchronised. Default true${ENV_HINT}.`),
        wait_for_sync: duration('0s', 'Wait this long at most for the clock to synchronise before starting the sources; 0 = do not wait.', 0, 3_600_000),
        step_threshold: duration('2s', 'A wall-clock jump at least this large is logged as a step.', 100),
      })
      .prefault({})
      .describe('Clock checks (a Raspberry Pi has no real-time clock).'),
    notify: z
      .strictObject({
        status_interval: duration('15s', "How often systemd's STATUS= line is refreshed (at least every watchdog ping).", 1000),
        command: z.string().min(1).default('systemd-notify').describe('The tool that sends notifications. Default systemd-notify.'),
      })
      .prefault({})
      .describe('systemd notifications (only when started by systemd with Type=notify).'),
  })
  .prefault({})
  .describe('Running as a service: health, metrics, stale devices, clock, systemd.');

export type ServiceInput = z.input<typeof serviceSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
