/**
 * The validated configuration, as the rest of the daemon sees it: keys as in the YAML
 * file (snake_case), durations already in ms, sizes in bytes, secrets already resolved
 * (`*_file` read, `${ENV}` substituted), defaults applied, deeply frozen.
 * src/config/schema.ts must produce exactly this shape (checked at compile time there).
 */
import type { ServiceConfig } from './schema-service.js';
import type { DeviceEntryConfig, DeviceProfilesConfig } from './schema-devices.js';
import type { SerialPortConfig } from './schema-serial.js';
import type { PipelineConfig } from './schema-pipeline.js';

export type { DeviceEntryConfig, DeviceProfilesConfig, SerialPortConfig };

export interface Config {
  readonly log: { readonly level: string };
  /** The embedded broker; absent = none. */
  readonly broker?: BrokerConfig;
  readonly mqtt: readonly MqttSourceConfig[];
  /** /healthz, /metrics, edgeflux_internal, stale devices, clock, systemd notify. */
  readonly service: ServiceConfig;
  /** May be empty when `devices` or `serial` decode everything with profiles. */
  readonly rules: readonly RuleConfig[];
  /** Topic filters of messages that are not readings: counted as ignored, never decoded, journaled, dead-lettered or logged. */
  readonly ignore: readonly string[];
  /** User profile directories (absolute); the shipped devices/ are always available. */
  readonly device_profiles: DeviceProfilesConfig;
  /** MQTT device families decoded by profiles (before the rules). */
  readonly devices: readonly DeviceEntryConfig[];
  /** Serial ports (USB/UART); a port naming a profile is decoded by it. */
  readonly serial: readonly SerialPortConfig[];
  readonly outputs: readonly OutputConfig[];
  readonly spool: SpoolConfig;
  readonly dead_letter: DeadLetterConfig;
  readonly limits: LimitsConfig;
  /** Shaping steps for every reading (after its rule's own), run per output; default none. */
  readonly pipeline: PipelineConfig;
  readonly shutdown_timeout: number;
}

/**
 * Where accepted messages wait until every output has written them (see docs/architecture.md,
 * "Delivery guarantees"): `durable` = the on-disk journal, `memory` = a bounded RAM ring.
 */
export interface SpoolConfig {
  readonly mode: 'durable' | 'memory'; // default durable
  /** Absolute journal directory (durable). Default $STATE_DIRECTORY/spool when set, else ./spool next to the config file. */
  readonly dir: string;
  /** fsync after every append (`always`) or every N ms; default 100 ms. */
  readonly sync: 'always' | number;
  /** Quota in bytes; default 1 GiB (durable), 64 MiB (memory). */
  readonly max_bytes: number;
  /** Journal segment size in bytes; default 16 MiB. */
  readonly segment_bytes: number;
  /** At the quota: drop the oldest messages (counted) or stop acknowledging; default drop-oldest. */
  readonly policy: 'drop-oldest' | 'block';
}

export interface BrokerConfig {
  readonly host: string; // default 127.0.0.1
  readonly port: number; // default 1883; 0 = any free port
  readonly plaintext: boolean; // default true; false = TLS only
  readonly tls?: {
    readonly host?: string; // default: host
    readonly port: number; // default 8883
    readonly cert: string; // PEM, from cert_file
    readonly key: string; // PEM, from key_file
    readonly ca?: string; // PEM, from ca_file: signs client certificates
    readonly client_certs: 'none' | 'optional' | 'required';
  };
  /** Clients without a username: default only from loopback addresses. */
  readonly anonymous: 'never' | 'loopback' | 'always';
  /** From `users:` and `password_file` together. */
  readonly users: readonly { readonly username: string; readonly password_hash: string }[];
  /** Absent: every admitted client may use every topic but $SYS. */
  readonly acl?: readonly { readonly user: string; readonly publish: readonly string[]; readonly subscribe: readonly string[] }[];
  /** Client ids a user may use, e.g. "%u-*"; absent = any (each still owned by its first user). */
  readonly client_id?: string;
  readonly limits: {
    readonly max_packet: number;
    readonly max_connections: number;
    readonly max_connections_per_address: number;
    /** ms */
    readonly connect_timeout: number;
    readonly max_queued_messages: number;
    readonly max_topic_length: number;
    readonly max_topic_levels: number;
    readonly max_rate: number;
    readonly retained: {
      /** bytes; absent = limits.max_payload */
      readonly max_payload?: number;
      readonly max_per_user: number;
      readonly max_bytes_per_user: number;
      readonly max_total: number;
      readonly max_bytes_total: number;
    };
  };
}

export interface MqttSourceConfig {
  readonly id: string;
  readonly url: string; // mqtt://, mqtts://, ws://, wss://
  readonly protocol_version: 4 | 5; // default 4 (3.1.1)
  readonly client_id: string; // default `edgeflux-<hostname>-<id>`
  readonly clean: boolean; // default false (persistent session)
  readonly session_expiry: number; // ms; MQTT 5 only; default 1 day
  readonly keepalive: number; // ms; default 30 s
  readonly connect_timeout: number; // ms; default 10 s
  readonly reconnect: { readonly initial: number; readonly max: number }; // ms; default 1 s .. 60 s
  readonly username?: string;
  readonly password?: string; // resolved from password / password_file / ${ENV}
  readonly tls?: {
    readonly ca?: string; // PEM contents, read from ca_file
    readonly cert?: string; // from cert_file
    readonly key?: string; // from key_file
    readonly reject_unauthorized: boolean; // default true
  };
  /** Empty: the daemon subscribes to what the rules and device profiles need, at QoS 1 (`sourceSubscriptions` in devices/device-messages.ts). */
  readonly subscriptions: readonly { readonly topic: string; readonly qos: 0 | 1 | 2 }[];
}

export type PayloadFormat = 'json' | 'number' | 'line_protocol';
export type TimeUnit = 's' | 'ms' | 'us' | 'ns' | 'iso';

export interface RuleConfig {
  /** Topic template: MQTT levels, `+`, trailing `#`, and `{name}` levels that capture. */
  readonly topic: string;
  readonly format: PayloadFormat;
  /** Measurement name or template using `{name}` captures; default: the `{measurement}` capture, else the format's own (line protocol) or error. */
  readonly measurement?: string;
  /** Static tags added to every reading; values may use `{name}` captures. */
  readonly tags: Readonly<Record<string, string>>;
  /** Captured topic levels NOT to turn into tags. */
  readonly drop_tags: readonly string[];
  readonly json: JsonOptions;
  readonly number: { readonly field?: string }; // field name or `{capture}`; default the `{field}` capture, else "value"
  /** Shaping steps for this rule's readings, before the global `pipeline`; default none. */
  readonly pipeline: PipelineConfig;
}

export interface JsonOptions {
  /** Only these fields (after flattening and renaming); empty = all. */
  readonly fields: readonly string[];
  readonly rename: Readonly<Record<string, string>>;
  /** Flattening separator for nested objects; default "_". */
  readonly separator: string;
  /** Fields written as InfluxDB integers (others numbers are floats). */
  readonly integers: readonly string[];
  /** Payload keys whose values become tags instead of fields (strings/numbers). */
  readonly tag_keys: readonly string[];
  /** Payload key holding the event time (dotted path allowed); absent = arrival time. */
  readonly time_key?: string;
  readonly time_unit: TimeUnit; // default ms
  /** What to do with string values: keep as string fields (default) or drop them. */
  readonly strings: 'keep' | 'drop';
}

export interface OutputBase {
  readonly id: string;
  readonly url: string;
  readonly timeout: number; // ms per request; default 10 s
  readonly gzip: boolean; // default false
  readonly batch: { readonly max_points: number; readonly max_age: number }; // default 5000, 1000 ms
  readonly retry: { readonly initial: number; readonly max: number }; // ms; default 1 s .. 60 s
  readonly concurrency: number; // requests in flight; default 1
}

export interface InfluxV1OutputConfig extends OutputBase {
  readonly type: 'influxdb_v1';
  readonly database: string;
  readonly retention_policy?: string;
  readonly username?: string;
  readonly password?: string;
}

export interface InfluxV2OutputConfig extends OutputBase {
  readonly type: 'influxdb_v2';
  readonly org: string;
  readonly bucket: string;
  readonly token?: string;
}

export type OutputConfig = InfluxV1OutputConfig | InfluxV2OutputConfig;

export interface DeadLetterConfig {
  readonly path: string; // default ./edgeflux-dead-letter.jsonl (relative to the config file's dir)
  readonly max_bytes: number; // default 10 MiB; the file rotates to `<path>.1` beyond it
}

export interface LimitsConfig {
  readonly max_payload: number; // bytes; default 256 KiB
}
