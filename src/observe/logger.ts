import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level name; `EDGEFLUX_LOG_LEVEL` overrides it. */
  level?: string;
  /** Pretty output; defaults to whether stdout is a TTY. */
  pretty?: boolean;
  /** Where to write (tests capture lines through this). Default: stdout. */
  destination?: DestinationStream;
}

/** Never logged, whatever the object passed to the logger holds. */
const REDACT = ['password', 'token', '*.password', '*.token', '*.passphrase', 'headers.authorization', '*.headers.authorization'];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = process.env.EDGEFLUX_LOG_LEVEL ?? opts.level ?? 'info';
  const base = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  if (opts.destination) return pino(base, opts.destination);
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(base);
}

/** A logger that drops everything (unit tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
