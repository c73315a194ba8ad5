/**
 * What each command is for and how it is called: the text of `edgeflux --help` and
 * `edgeflux <command> --help`, the options offered by the bash completion, and the
 * "did you mean" of a mistyped option all come from this one table.
 */
import { closest } from '../util/closest.js';

export interface CommandUsage {
  /** One line for the overview. */
  readonly summary: string;
  /** The full usage of the command. */
  readonly usage: string;
  /** Sub-commands, for completion (`devices list`, `spool status`). */
  readonly subcommands?: readonly string[];
}

/** A wrong use of the command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const COMMANDS: Readonly<Record<string, CommandUsage>> = {
  run: {
    summary: 'run the daemon',
    usage: `Usage: edgeflux run --config FILE

Runs the daemon until SIGINT/SIGTERM (the first one writes what is spooled within
shutdown_timeout; a second one exits at once). SIGHUP reloads the config file.

Options:
  -c, --config FILE   the config file (edgeflux check validates it)
`,
  },
  check: {
    summary: 'validate a config; prints every error with file:line:key',
    usage: `Usage: edgeflux check --config FILE

Validates the config file and the device profiles it uses; prints every error at once,
each with file:line:column and the key. Exit code 2 when there are errors.

Options:
  -c, --config FILE   the config file
`,
  },
  schema: {
    summary: "print the config's JSON Schema (for editor completion)",
    usage: `Usage: edgeflux schema [--out FILE]

Prints the config file's JSON Schema (point your editor's YAML language server at it).

Options:
  -o, --out FILE      write it to FILE instead of standard output
`,
  },
  passwd: {
    summary: "set a user's password in the embedded broker's password file",
    usage: `Usage: edgeflux passwd USER --file PASSWORD_FILE

Sets USER's password in the embedded broker's password file (created with mode 0600),
stored as a salted scrypt hash. The password is read from standard input (asked twice,
without echo, on a terminal); at least 8 characters. USER has no ":" or white space.

Options:
  -f, --file FILE     the password file (broker.password_file in the config)
`,
  },
  devices: {
    summary: 'the device profiles available, and what one of them does',
    subcommands: ['list', 'show'],
    usage: `Usage:
  edgeflux devices list [--config FILE] [--dir DIR]...     the available device profiles
  edgeflux devices show NAME [--config FILE] [--dir DIR]... what a profile matches, decodes and writes

Options:
  -c, --config FILE   also the profiles in the config's device_profiles.dirs
  --dir DIR           also the profiles in DIR (repeatable)
`,
  },
  tail: {
    summary: 'decoded readings live from the configured broker (Ctrl-C ends)',
    usage: `Usage: edgeflux tail --config FILE [--filter TOPIC_FILTER] [--limit N] [--unmatched]
                     [--username USER --password-file FILE]

Subscribes (QoS 0, its own client id; it acknowledges nothing for the daemon) to the
broker the config names and prints every message as the daemon decodes it:
  topic  line-protocol                  a reading
  ! topic: reason: message             a bad message (the daemon dead-letters it)
  ! topic: field_type: why: line       a reading InfluxDB would reject (a field whose
                                        type differs from the one first seen)

Options:
  -c, --config FILE       the config file
  --filter TOPIC_FILTER   only this MQTT topic filter (default: the rules' and profiles')
  --limit N               stop after N lines
  --unmatched             only the messages that no rule, profile or ignore entry covers
                          (subscribes to everything: the newcomer's most common mistake)
  --username USER         log in as USER (a secured embedded broker; default: the
  --password-file FILE      config's own credentials for an mqtt: source)
`,
  },
  simulate: {
    summary: 'publish realistic sensor traffic (random walks, some bad payloads)',
    usage: `Usage: edgeflux simulate [--url URL] [--devices N] [--rate R] [--duration S | --count C]
                         [--bad-ratio 0.01] [--qos 0|1] [--topic TEMPLATE]
                         [--username USER] [--password PASSWORD]

Publishes JSON readings (temperature and humidity random walks per device) to an MQTT
broker, paced to R messages per second in total, until the duration or the count is
reached (or Ctrl-C). At QoS 1 the summary counts the broker's acks; at QoS 0 the broker
confirms nothing.

Options:
  --url URL             broker (default mqtt://127.0.0.1:1883)
  --devices N           simulated devices (default 10)
  --rate R              messages per second, all devices together (default 10)
  --duration S          seconds to run
  --count C             messages to send
  --bad-ratio X         share of bad payloads, 0..1 (default 0)
  --qos 0|1             (default 0)
  --topic TEMPLATE      default 'sensors/{location}/{device}/climate'
  --username USER       for a broker with users (e.g. broker.users)
  --password PASSWORD   its password (visible in the process list: use a test user)
`,
  },
  spool: {
    summary: "the running daemon's journal size, per-output lag and drops",
    subcommands: ['status'],
    usage: `Usage: edgeflux spool status --config FILE

Asks the running daemon (at service.http in the config) for its journal: size, each
output's cursor, how far it is behind, its state and its current error.

Options:
  -c, --config FILE   the config the daemon runs with
`,
  },
  completion: {
    summary: 'print a bash completion script',
    usage: `Usage: edgeflux completion

Prints a bash completion script. To use it:
  edgeflux completion > ~/.local/share/bash-completion/completions/edgeflux
or, for the current shell only:  source <(edgeflux completion)
`,
  },
};

export const USAGE = `edgeflux — IoT sensor ingestion daemon (MQTT in, InfluxDB out)

Usage: edgeflux <command> [options]      (edgeflux <command> --help for its options)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${`${name}${c.subcommands ? ` ${c.subcommands.join('|')}` : ''}`.padEnd(18)} ${c.summary}`)
  .join('\n')}

  edgeflux --version                 the version
  edgeflux --help                    this text

Exit codes: 0 ok; 1 runtime failure; 2 invalid config or usage; 3 stopped with unwritten readings.
`;

/** The long options a command's usage names (`--config`, ...). */
export function optionsOf(command: string): string[] {
  const usage = COMMANDS[command]?.usage ?? '';
  return [...new Set([...usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]))].sort();
}

/**
 * One line for what went wrong, and the exit code: a usage error (unknown command or
 * option, a missing or bad value) says what to type instead (2); any other failure says
 * what failed (1). The stack trace only with EDGEFLUX_DEBUG=1.
 */
export function failure(err: unknown, cmd: string | undefined): { line: string; code: number } {
  const who = cmd !== undefined && COMMANDS[cmd] ? `edgeflux ${cmd}` : 'edgeflux';
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) {
    const option = /'(-[^']*)'/.exec(message)?.[1];
    const known = cmd !== undefined ? optionsOf(cmd) : [];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
      const near = closest(option, known);
      return { line: `${who}: unknown option ${option}${near ? ` (did you mean ${near}?)` : ''}; see ${who} --help`, code: 2 };
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
      return { line: `${who}: unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}; see ${who} --help`, code: 2 };
    return { line: `${who}: ${message.split('. ')[0]}; see ${who} --help`, code: 2 };
  }
  const prefix = new RegExp(`^${who} ?:\\s*`);
  if (err instanceof UsageError) return { line: `${who}: ${message.replace(prefix, '')}; see ${who} --help`, code: 2 };
  return { line: `${who}: ${message.replace(prefix, '')}`, code: 1 };
}
