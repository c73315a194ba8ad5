import { loadConfig, formatIssue } from '../config/load.js';
import { createLogger } from '../observe/logger.js';
import { Daemon } from '../daemon.js';

/**
 * Runs the daemon until SIGINT/SIGTERM. The first signal stops it gracefully (sources
 * closed, batches flushed within shutdown_timeout); a second one exits at once.
 * Exit code 0 when everything was flushed, 3 when readings were left unwritten.
 */
export async function runCommand(path: string): Promise<number> {
  const res = await loadConfig(path);
  if (!res.ok) {
    for (const issue of res.errors) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`edgeflux: not started: ${res.errors.length} config error(s) in ${path}\n`);
    return 2;
  }
  const logger = createLogger({ level: res.config.log.level });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: exiting so that the service manager restarts edgeflux');
    logger.flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection: exiting so that the service manager restarts edgeflux');
    logger.flush();
    process.exit(1);
  });

  const daemon = new Daemon({ config: res.config, logger });
  const stopped = new Promise<boolean>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal: sig }, 'second signal: exiting without waiting for the flush');
        logger.flush();
        process.exit(3);
      }
      logger.info({ signal: sig }, 'signal received');
      daemon.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'stop failed');
        resolve(false);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await daemon.start();
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    await daemon.stop().catch(() => false);
    return 1;
  }
  const ok = await stopped;
  logger.flush();
  return ok ? 0 : 3;
}
