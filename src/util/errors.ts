/**
 * The errors a user or operator can meet, one coded entry each (as fastify's lib/errors.js
 * does): a stable code to search for, a message template (`{name}` is filled in), and the
 * fix. Log lines carry the code as `code`, `edgeflux check` prints it after each problem,
 * dead-letter records carry it, and docs/troubleshooting.md is generated from this table
 * (a test keeps the two equal).
 */
import type { DecodeReason } from '../types.js';

export interface ErrorSpec {
  /** Where it comes from (the troubleshooting page groups by it). */
  readonly area: 'config' | 'spool' | 'output' | 'broker' | 'service' | 'payload';
  readonly message: string;
  readonly hint: string;
}

export const ERRORS = {
  EFX_CONFIG_UNREADABLE: {
    area: 'config',
    message: 'cannot read the config file: {why}',
    hint: 'Check the path given to `--config` and that the service user may read the file (`sudo -u edgeflux cat FILE`).',
  },
  EFX_CONFIG_SYNTAX: {
    area: 'config',
    message: '{file}:{line}:{column}: YAML syntax: {detail}',
    hint: 'Fix the YAML at that place: indentation (spaces, not tabs), a missing `:` or a quote never closed.',
  },
  EFX_CONFIG_UNKNOWN_KEY: {
    area: 'config',
    message: '{place} {key}: unknown key "{name}"',
    hint: 'Check the spelling (the message suggests the closest known key) and the level it sits at; `edgeflux schema` writes the JSON Schema for editor completion.',
  },
  EFX_CONFIG_INVALID: {
    area: 'config',
    message: '{place} {key}: {problem}',
    hint: 'Fix the value at that place; `edgeflux check --config FILE` lists every problem at once, and docs/configuration.md gives each key.',
  },
  EFX_CONFIG_ENV: {
    area: 'config',
    message: '{place} {key}: environment variable {name} is not set',
    hint: 'Set the variable where edgeflux runs (systemd: `Environment=` or `EnvironmentFile=`), or give a default: `${NAME:-value}`.',
  },
  EFX_SPOOL_DISK_FULL: {
    area: 'spool',
    message: 'spool: the disk is full: not acknowledging messages',
    hint: 'Free space on the file system of `spool.dir`, or lower `spool.max_bytes` below the free space. Nothing is lost meanwhile: brokers and publishers keep the messages.',
  },
  EFX_SPOOL_QUOTA: {
    area: 'spool',
    message: 'spool: the journal is at its quota (policy block): not acknowledging messages',
    hint: 'An output is behind (see `/healthz` and `edgeflux_output_backlog_messages`): bring it back, raise `spool.max_bytes`, or use `policy: drop-oldest`.',
  },
  EFX_SPOOL_APPEND_FAILED: {
    area: 'spool',
    message: 'spool: cannot append to the journal ({detail})',
    hint: 'Check that `spool.dir` exists, is writable by the service user and its disk is healthy (`dmesg`). Messages are not acknowledged until appends work again.',
  },
  EFX_SPOOL_DAMAGED: {
    area: 'spool',
    message: 'journal: damaged records skipped',
    hint: 'Expected after a power loss (the torn tail is cut, counted in `edgeflux_journal_damaged_records_total`). If it repeats without power losses, check the SD card.',
  },
  EFX_SPOOL_DIR_READ_ONLY: {
    area: 'spool',
    message: 'spool: {dir} is on a read-only filesystem: remount it read-write (mount -o remount,rw), or set spool.dir to a writable directory',
    hint: 'edgeflux cannot write its journal: it does not start, or exits 1 when this happens while it runs (systemd sees the failure). An SD card the kernel remounted read-only after I/O errors is the usual cause: check `dmesg`, then remount it or replace the card.',
  },
  EFX_SPOOL_DIR_NO_PERMISSION: {
    area: 'spool',
    message:
      'spool: no permission to write in {dir} (running as uid {uid}): give the directory to the service user (chown), or set spool.dir to a writable directory (systemd: StateDirectory=edgeflux)',
    hint: "The user edgeflux runs as must own `spool.dir` (the installer and the unit's `StateDirectory=edgeflux` see to it for `/var/lib/edgeflux`): `sudo chown -R edgeflux: DIR`. edgeflux does not start, or exits 1 when this happens while it runs.",
  },
  EFX_SPOOL_DIR_MISSING: {
    area: 'spool',
    message:
      'spool: {dir} does not exist (or was removed while running): create it (systemd: StateDirectory=edgeflux), or set spool.dir to an existing directory',
    hint: 'edgeflux creates `spool.dir` at start when it can; this means a part of the path could not be made, or the directory vanished under the running daemon (a USB disk unplugged, a tmpfs unmounted): it exits 1 rather than acknowledge messages it cannot journal.',
  },
  EFX_SPOOL_DIR_NOT_A_DIRECTORY: {
    area: 'spool',
    message: 'spool: {dir} is not a directory: set spool.dir to a directory',
    hint: '`spool.dir` (or a part of its path) is a file: point `spool.dir` elsewhere, or move the file away.',
  },
  EFX_SPOOL_DIR_NO_SPACE: {
    area: 'spool',
    message: 'spool: no space left on the disk holding {dir}: free space on it',
    hint: 'At start edgeflux proves it can write to `spool.dir` (a small probe file, fsynced and removed); a full disk stops the start. Free space on that file system (`df -h DIR`) or move `spool.dir` to a larger one. (A disk that fills while edgeflux runs is EFX_SPOOL_DISK_FULL: it stops acknowledging instead.)',
  },
  EFX_SPOOL_DIR_UNWRITABLE: {
    area: 'spool',
    message: 'spool: cannot write to {dir}: {detail}',
    hint: 'Another failure to write in `spool.dir` (an I/O error, a file system that refuses fsync): check `dmesg` and the disk, or set `spool.dir` to a healthy directory.',
  },
  EFX_SPOOL_HEAP_TOO_SMALL: {
    area: 'spool',
    message:
      "memory mode holding {max_bytes} needs about {need} MiB of V8 heap, but node's heap limit is {limit} MiB (node would abort when the spool fills): lower spool.max_bytes, or run node with --max-old-space-size={old_space} or more",
    hint: "edgeflux does not start (a reload is refused); `edgeflux check` reports it beforehand, against its own node's heap limit (the unit's when run as `edgeflux`). In `spool.mode: memory` the held messages live in node's heap, which the unit caps with `--max-old-space-size`. Lower `spool.max_bytes`, use `mode: durable` (the backlog waits on disk), or raise the limit: under systemd, a drop-in (`systemctl edit edgeflux`) with an empty `ExecStart=` and the unit's line with the new value (`NODE_OPTIONS` cannot raise it: the flag on the command line wins); run by hand, give node the flag (`node --max-old-space-size=N dist/cli/main.js run …`).",
  },
  EFX_OUTPUT_UNREACHABLE: {
    area: 'output',
    message: 'output {output}: write failed, retrying ({detail})',
    hint: 'InfluxDB is down, slow or unreachable (network, DNS, TLS). Nothing to do if it comes back: the data waits in the spool. Check `url` and that InfluxDB runs.',
  },
  EFX_OUTPUT_AUTH: {
    area: 'output',
    message: 'output {output}: InfluxDB refused the credentials ({status})',
    hint: "Check the output's `token` (2.x/3.x) or `username`/`password` (1.x) and that they may write to the database or bucket. The data waits in the spool.",
  },
  EFX_OUTPUT_NOT_FOUND: {
    area: 'output',
    message: 'output {output}: database, bucket or write API not found ({status})',
    hint: "Create the database (1.x: `CREATE DATABASE name`) or bucket, or fix `database`/`bucket`/`org` and the `url` (no path: edgeflux adds the write API's). The data waits in the spool.",
  },
  EFX_OUTPUT_REJECTED: {
    area: 'output',
    message: 'output {output}: InfluxDB rejected points ({detail})',
    hint: "The rejected lines are in the dead-letter file with InfluxDB's reason, usually a field type conflict (a field written as integer, then as float): fix the profile's field types or drop the measurement.",
  },
  EFX_OUTPUT_TOO_LARGE: {
    area: 'output',
    message: 'output {output}: request too large; at most {points} points per request from now on',
    hint: "Nothing to do (batches are split). To avoid the first refusal, lower the output's `batch.max_points` or raise the server's body limit.",
  },
  EFX_OUTPUT_FATAL: {
    area: 'output',
    message: 'output {output}: InfluxDB refused the batch ({status}); dead-lettered',
    hint: "An answer edgeflux cannot retry: the points are in the dead-letter file. Check the output's `type` matches the server's version.",
  },
  EFX_PORT_IN_USE: {
    area: 'service',
    message: 'port {port} is already in use ({key})',
    hint: 'Another edgeflux may be running (`systemctl status edgeflux`), or another MQTT broker (mosquitto): set the key named to a free port.',
  },
  EFX_BROKER_LOGIN_REFUSED: {
    area: 'broker',
    message: 'broker: login refused ({reason}) from {address}',
    hint: "A client gave no, an unknown or a wrong username/password. Add the user with `edgeflux passwd` or fix the device's credentials; repeated failures are answered more and more slowly.",
  },
  EFX_BROKER_REFUSED: {
    area: 'broker',
    message: 'broker: {what} refused ({reason})',
    hint: 'A client broke a limit (`broker.limits`) or its ACL (`broker.users[].publish/subscribe`): raise the limit or fix the client.',
  },
  EFX_BROKER_QUEUE_FULL: {
    area: 'broker',
    message: 'broker: queue of session {clientId} is full; a message for it was dropped',
    hint: "A persistent session's client is away or slow; raise `broker.limits.max_queued_messages`, or have it connect with a clean session.",
  },
  EFX_PAYLOAD_NO_RULE: {
    area: 'payload',
    message: 'no rule matches topic {topic}',
    hint: 'Add a `rules:` entry (or a `devices:` profile) for the topic, or list it under `ignore:` if it carries no readings.',
  },
  EFX_PAYLOAD_EMPTY: { area: 'payload', message: '{topic}: empty payload', hint: 'The device sent nothing; check its firmware, or `ignore:` the topic.' },
  EFX_PAYLOAD_TOO_LARGE: {
    area: 'payload',
    message: '{topic}: payload of {bytes} bytes is over the limit',
    hint: 'Raise `limits.max_payload` if the device really sends such messages.',
  },
  EFX_PAYLOAD_INVALID_UTF8: {
    area: 'payload',
    message: '{topic}: payload is not valid UTF-8',
    hint: 'The device sends binary: use a binary `format` in its rule or profile.',
  },
  EFX_PAYLOAD_INVALID_JSON: {
    area: 'payload',
    message: '{topic}: not valid JSON ({detail})',
    hint: "The rule says `format: json` but the device sent something else: fix the rule's `format` (number, csv, kv, line protocol) or the device.",
  },
  EFX_PAYLOAD_NOT_AN_OBJECT: {
    area: 'payload',
    message: '{topic}: JSON is not an object',
    hint: "Point the rule's `fields`/`path` at the object inside, or use `format: number` for a bare value.",
  },
  EFX_PAYLOAD_INVALID_NUMBER: {
    area: 'payload',
    message: '{topic}: not a number ({detail})',
    hint: 'The rule says `format: number`: check what the device sends (`edgeflux tail`).',
  },
  EFX_PAYLOAD_INVALID_LINE_PROTOCOL: {
    area: 'payload',
    message: '{topic}: not valid line protocol ({detail})',
    hint: "Check the device's output against InfluxDB line protocol (escaping of spaces and commas).",
  },
  EFX_PAYLOAD_WRONG_TYPE: {
    area: 'payload',
    message: '{topic}: field {field} has the wrong type ({detail})',
    hint: "A field's type is fixed by its profile or first value (InfluxDB refuses a type change): fix the device or the field's `type`.",
  },
  EFX_PAYLOAD_INVALID_TIMESTAMP: {
    area: 'payload',
    message: '{topic}: timestamp not understood ({detail})',
    hint: "Fix the rule's `time_key` (or the device's clock), or drop it to use the time of arrival.",
  },
  EFX_PAYLOAD_NO_FIELDS: {
    area: 'payload',
    message: '{topic}: no field to write',
    hint: "Nothing in the message became a field: check the rule's `fields` against what the device sends (`edgeflux tail`).",
  },
  EFX_PAYLOAD_CHECKSUM_MISMATCH: {
    area: 'payload',
    message: '{port}: frame checksum does not match',
    hint: "Noise on the serial line or a wrong baud rate/framing: check wiring, `baud_rate` and the profile's framing.",
  },
  EFX_PAYLOAD_BAD_FRAME: {
    area: 'payload',
    message: '{port}: frame of the wrong length, start or end',
    hint: "Check `baud_rate` and the profile's framing against the device's manual.",
  },
  EFX_PAYLOAD_MISSING_SCHEMA: {
    area: 'payload',
    message: "{topic}: the property's description is not known yet",
    hint: 'A Homie device published a value before its `$datatype`/`$format`; it resolves itself once they arrive (retained).',
  },
  EFX_PAYLOAD_INTERNAL_ERROR: {
    area: 'payload',
    message: '{topic}: the decoder failed ({detail})',
    hint: 'A bug in edgeflux, not bad input: please report it with the dead-letter record.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The code of a payload that could not be decoded, by reason (every reason has one). */
export const PAYLOAD_CODES: Readonly<Record<DecodeReason, ErrorCode>> = {
  no_rule: 'EFX_PAYLOAD_NO_RULE',
  empty_payload: 'EFX_PAYLOAD_EMPTY',
  payload_too_large: 'EFX_PAYLOAD_TOO_LARGE',
  invalid_utf8: 'EFX_PAYLOAD_INVALID_UTF8',
  invalid_json: 'EFX_PAYLOAD_INVALID_JSON',
  not_an_object: 'EFX_PAYLOAD_NOT_AN_OBJECT',
  invalid_number: 'EFX_PAYLOAD_INVALID_NUMBER',
  invalid_line_protocol: 'EFX_PAYLOAD_INVALID_LINE_PROTOCOL',
  wrong_type: 'EFX_PAYLOAD_WRONG_TYPE',
  invalid_timestamp: 'EFX_PAYLOAD_INVALID_TIMESTAMP',
  no_fields: 'EFX_PAYLOAD_NO_FIELDS',
  checksum_mismatch: 'EFX_PAYLOAD_CHECKSUM_MISMATCH',
  bad_frame: 'EFX_PAYLOAD_BAD_FRAME',
  missing_schema: 'EFX_PAYLOAD_MISSING_SCHEMA',
  internal_error: 'EFX_PAYLOAD_INTERNAL_ERROR',
};

/** `ERRORS[code].message` with each `{name}` replaced by `params.name` (left as is when not given). */
export function errorMessage(code: ErrorCode, params: Readonly<Record<string, string | number>> = {}): string {
  return ERRORS[code].message.replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] !== undefined ? String(params[name]) : whole));
}

/** An Error that carries its code (pino logs it as `err.code`; callers also log `code`). */
export class CodedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = errorMessage(code),
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CodedError';
  }
}

/** The code of `err` when it is a CodedError (for the `code` key of its log line), else undefined. */
export function codeOf(err: unknown): ErrorCode | undefined {
  return err instanceof CodedError ? err.code : undefined;
}

const AREAS: readonly [ErrorSpec['area'], string][] = [
  ['config', 'Configuration (`edgeflux check` prints these)'],
  ['spool', 'Spool (the journal on disk)'],
  ['output', 'Outputs (InfluxDB)'],
  ['broker', 'Embedded broker'],
  ['service', 'Service'],
  ['payload', 'Device payloads (counted in `edgeflux_messages_failed_total{reason}`, kept in the dead-letter file with their `code`)'],
];

/** docs/troubleshooting.md, from the table. */
export function troubleshootingMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const out = [
    '# Troubleshooting',
    '',
    '<!-- Generated from src/util/errors.ts (a test checks it): edit the table there, then',
    '     node --import tsx -e "import(\'./src/util/errors.ts\').then((m) => process.stdout.write(m.troubleshootingMarkdown()))" > docs/troubleshooting.md -->',
    '',
    'Every problem edgeflux reports to a user or operator carries a code: log lines as the',
    '`code` key (`journalctl -u edgeflux -o cat | grep EFX_`), `edgeflux check` after each',
    'problem, dead-letter records as `code`. Find the code below.',
  ];
  for (const [area, title] of AREAS) {
    out.push('', `## ${title}`, '', '| code | message | what to do |', '|---|---|---|');
    for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, ErrorSpec][]) {
      if (spec.area === area) out.push(`| \`${code}\` | ${cell(spec.message)} | ${cell(spec.hint)} |`);
    }
  }
  return out.join('\n') + '\n';
}
