#!/usr/bin/env -S node --max-semi-space-size=4 --v8-pool-size=2
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';

// Each command is imported when it runs: the daemon (`run`) then holds none of the
// other commands' code (every module loaded stays in memory for the life of the process).

const USAGE = `edgeflux — IoT sensor ingestion daemon (MQTT in, InfluxDB out)

Usage:
  edgeflux run --config FILE       run the daemon
  edgeflux check --config FILE     validate a config; prints every error with file:line:key
  edgeflux schema [--out FILE]     print the config's JSON Schema (for editor completion)
  edgeflux passwd USER --file F    set USER's password in the embedded broker's password file
                                   (read from standard input; stored as a salted scrypt hash)
  edgeflux devices list [--config FILE] [--dir DIR]   the device profiles available
  edgeflux devices show NAME [--config FILE]          what a profile matches, decodes and writes
  edgeflux tail --config FILE [--filter TOPIC_FILTER] [--limit N] [--unmatched] [--username U --password-file F]
                                   decoded readings live from the configured broker (Ctrl-C ends)
  edgeflux simulate --url URL --devices N --rate R [--duration S] [--count C] [--bad-ratio 0.01]
                   [--qos 0|1] [--topic 'sensors/{location}/{device}/climate']
                                   publish realistic sensor traffic (random walks, some bad payloads)
  edgeflux spool status --config FILE   the running daemon's journal size, per-output lag and drops
  edgeflux --version

Exit codes: 0 ok; 1 runtime failure; 2 invalid config or usage; 3 stopped with unwritten readings.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'devices') return (await import('./devices.js')).devicesCommand(argv.slice(1)); // its own options
  if (argv[0] === 'simulate') return (await import('./simulate.js')).simulateCommand(argv.slice(1));
  if (argv[0] === 'tail') return (await import('./tail.js')).tailCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      out: { type: 'string', short: 'o' },
      file: { type: 'string', short: 'f' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const cmd = positionals[0];
  if (values.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(USAGE);
    return values.help || cmd === 'help' ? 0 : 2;
  }
  switch (cmd) {
    case 'run':
    case 'check':
      if (!values.config) {
        process.stderr.write(`edgeflux ${cmd}: --config FILE is required\n`);
        return 2;
      }
      return cmd === 'run' ? (await import('./run.js')).runCommand(values.config) : (await import('./check.js')).checkCommand(values.config);
    case 'schema':
      return (await import('./schema.js')).schemaCommand(values.out);
    case 'spool':
      if (positionals[1] !== 'status') {
        process.stderr.write(`edgeflux spool: unknown subcommand "${positionals[1] ?? ''}" (try: spool status --config FILE)\n`);
        return 2;
      }
      return (await import('./spool-status.js')).spoolStatusCommand(values.config);
    case 'passwd':
      return (await import('./passwd.js')).passwdCommand(positionals[1], values.file);
    default:
      process.stderr.write(`edgeflux: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; if a stray handle would keep the process alive, do not hang
    // (systemd would kill us after TimeoutStopSec and call it a failure).
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`edgeflux: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof TypeError && /parseArgs|option/i.test(String(err)) ? 2 : 1;
  },
);
