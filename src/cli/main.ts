#!/usr/bin/env -S node --max-semi-space-size=4 --v8-pool-size=2 --max-old-space-size=512
import { parseArgs } from 'node:util';
import { COMMANDS, failure, USAGE, UsageError } from './usage.js';
import { closest } from '../util/closest.js';
import { packageVersion as version } from '../util/version.js';

// Each command is imported when it runs: the daemon (`run`) then holds none of the
// other commands' code (every module loaded stays in memory for the life of the process).

/** Options of the commands parsed here (devices, simulate and tail parse their own). */
const OPTIONS = {
  run: { config: { type: 'string', short: 'c' } },
  check: { config: { type: 'string', short: 'c' } },
  schema: { out: { type: 'string', short: 'o' } },
  spool: { config: { type: 'string', short: 'c' } },
  passwd: { file: { type: 'string', short: 'f' } },
  completion: {},
} as const;

function parse(cmd: keyof typeof OPTIONS, args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: OPTIONS[cmd] as Record<string, { type: 'string'; short?: string }> });
}

function needConfig(cmd: string, config: string | undefined): string {
  if (!config) throw new UsageError(`--config FILE is required (edgeflux ${cmd} --config /etc/edgeflux/edgeflux.yaml)`);
  return config;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const about = cmd === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(about?.usage ?? USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const usage = COMMANDS[cmd];
  if (usage === undefined) {
    const near = closest(cmd, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
  const beforeDashes = rest.indexOf('--') === -1 ? rest : rest.slice(0, rest.indexOf('--'));
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    process.stdout.write(usage.usage);
    return 0;
  }
  switch (cmd) {
    case 'devices':
      return (await import('./devices.js')).devicesCommand(rest);
    case 'simulate':
      return (await import('./simulate.js')).simulateCommand(rest);
    case 'tail':
      return (await import('./tail.js')).tailCommand(rest);
    case 'completion':
      parse(cmd, rest);
      return (await import('./completion.js')).completionCommand();
    case 'run':
    case 'check': {
      const path = needConfig(cmd, parse(cmd, rest).values.config);
      return cmd === 'run' ? (await import('./run.js')).runCommand(path) : (await import('./check.js')).checkCommand(path);
    }
    case 'schema':
      return (await import('./schema.js')).schemaCommand(parse(cmd, rest).values.out);
    case 'spool': {
      const { values, positionals } = parse(cmd, rest);
      if (positionals[0] !== 'status') throw new UsageError(`unknown subcommand "${positionals[0] ?? ''}" (try: edgeflux spool status --config FILE)`);
      return (await import('./spool-status.js')).spoolStatusCommand(needConfig('spool status', values.config));
    }
    case 'passwd': {
      const { values, positionals } = parse(cmd, rest);
      return (await import('./passwd.js')).passwdCommand(positionals[0], values.file);
    }
    default:
      throw new Error(`unreachable: command ${cmd}`);
  }
}

// A closed pipe (`edgeflux schema | head`) ends the output, not in an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; if a stray handle would keep the process alive, do not hang
    // (systemd would kill us after TimeoutStopSec and call it a failure).
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    const { line, code } = failure(err, argv[0]);
    process.stderr.write(`${line}\n`);
    if (process.env.EDGEFLUX_DEBUG === '1' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = code;
  },
);
