import { formatIssue, formatIssueWithCode, issueCode } from '../config/issues.js';
import { createLogger, type Logger } from '../observe/logger.js';
import type { Daemon } from '../daemon.js';
import type { Config } from '../config/types.js';
import { loadConfigApart, type ApartLoad } from './config-apart.js';
import { takeNotifyEnvironment } from '../observe/sd-notify.js';
import { portInUseMessage } from './port-in-use.js';
import { packageVersion as version } from '../util/version.js';
import { codeOf } from '../util/errors.js';

/**
 * Runs the daemon until SIGINT/SIGTERM. The first signal stops it gracefully (sources
 * closed, what is journaled written within shutdown_timeout); a second one exits at once.
 * SIGHUP reloads: the config file is validated first; if invalid, every error is logged
 * and the daemon keeps running on the old config; if valid, the daemon is restarted in
 * process on the new one (the journal keeps every accepted reading across the switch).
 * Exit code 0 when nothing accepted was lost, 3 when readings were left unwritten
 * (memory mode). The config is loaded in a child process each time (config-apart.ts), so
 * that this long-lived one never holds the YAML and schema libraries.
 */
export async function runCommand(path: string): Promise<number> {
  // The child validates the config while this process loads the daemon's modules.
  const [{ load: res, permissions }, { Daemon }] = await Promise.all([loadConfigApart(path), import('../daemon.js')]);
  if (!res.ok) {
    for (const issue of res.errors) process.stderr.write(`${formatIssueWithCode(issue)}\n`);
    process.stderr.write(`edgeflux: not started: ${res.errors.length} config error(s) in ${path}\n`);
    return 2;
  }
  const logger = createLogger({ level: res.config.log.level });
  const die = (what: string) => (err: unknown) => {
    logger.fatal({ err }, `${what}: exiting so that the service manager restarts edgeflux`);
    logger.flush();
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));

  for (const w of permissions) logger.warn({ file: w.path }, w.message);
  for (const w of res.warnings ?? []) logger.warn(`config: ${formatIssue(w)}`);

  const v = version();
  const env = takeNotifyEnvironment(); // only our notifier talks to systemd, not our children
  let onFatal: (err: Error) => void = () => undefined;
  const make = (config: Config, previous?: Daemon) =>
    new Daemon({ config, logger, version: v, nodeMetrics: true, env, onFatal: (err) => onFatal(err), ...(previous && { previous }) });
  let daemon = make(res.config);
  let reloading: Promise<void> | undefined;

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
      (reloading ?? Promise.resolve())
        .then(() => daemon.stop())
        .then(resolve, (err: unknown) => {
          logger.error({ err }, 'stop failed');
          resolve(false);
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  // The spool became unusable (logged fatal by the daemon): stop, exit 1 so systemd sees a failure.
  const failed = new Promise<number>((resolve) => {
    onFatal = () => {
      onFatal = () => undefined;
      (reloading ?? Promise.resolve())
        .then(() => daemon.stop())
        .catch((err: unknown) => logger.error({ err }, 'stop failed'))
        .finally(() => resolve(1));
    };
  });
  process.on('SIGHUP', () => {
    if (reloading) return;
    reloading = reload(path, daemon, make, logger).then((next) => {
      daemon = next;
      reloading = undefined;
    }, die('reload failed'));
  });
  try {
    await daemon.start();
  } catch (err) {
    const inUse = portInUseMessage(err, res.config);
    if (inUse !== undefined) logger.fatal({ code: 'EFX_PORT_IN_USE' }, `not started: ${inUse}`);
    else logger.fatal({ err, code: codeOf(err) }, `start failed: ${err instanceof Error ? err.message : String(err)}`);
    await daemon.stop().catch(() => false);
    return 1;
  }
  const code = await Promise.race([stopped.then((ok) => (ok ? 0 : 3)), failed]);
  logger.flush();
  return code;
}

/** Validates the config file again; restarts the daemon on it when valid. */
async function reload(path: string, current: Daemon, make: (c: Config, previous: Daemon) => Daemon, logger: Logger): Promise<Daemon> {
  logger.info({ config: path }, 'SIGHUP: reloading the configuration');
  await current.notifyReloading();
  let res: ApartLoad['load'];
  try {
    res = (await loadConfigApart(path)).load;
  } catch (err) {
    logger.error({ err }, `reload refused: ${err instanceof Error ? err.message : String(err)}; still running on the previous configuration`);
    await current.notifyReady();
    return current;
  }
  if (!res.ok) {
    for (const issue of res.errors) logger.error({ code: issueCode(issue), issue }, `reload refused: ${formatIssue(issue)}`);
    logger.error({ errors: res.errors.length }, 'reload refused: the configuration has errors; still running on the previous one');
    await current.notifyReady();
    return current;
  }
  await current.stop({ reload: true });
  const next = make(res.config, current); // counters, device states carry over
  await next.start();
  logger.info('reload done: running on the new configuration');
  return next;
}
