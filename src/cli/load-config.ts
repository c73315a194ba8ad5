/**
 * The config as the commands (and so the daemon) take it: the file validated by config/
 * (YAML, `${ENV}`, schema, every problem with its place), then the checks that need the
 * rules compiled and the device profiles loaded (devices/device-config.ts), reported at
 * their places too. Composed here, at the top, so that config/ imports nothing above it.
 */
import { loadConfig as loadConfigFile, parseConfigText as parseConfigFileText, type ConfigCheck, type LoadOptions, type LoadResult } from '../config/load.js';
import { getHeapStatistics } from 'node:v8';
import { checkDeviceSettings } from '../devices/device-config.js';
import { memorySpoolFits } from '../journal/memory-budget.js';

export { formatIssue, formatIssueWithCode, issueCode, type ConfigIssue, type LoadResult } from '../config/load.js';

const checks: readonly ConfigCheck[] = [checkDeviceSettings];

/** Reads and validates a config file, devices included. `env` defaults to `process.env`. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: Omit<LoadOptions, 'checks'> = {}): Promise<LoadResult> {
  return loadConfigFile(path, env, { ...opts, checks });
}

/**
 * `loadConfig` that also checks that a memory-mode spool fits a V8 heap of `heapLimit` bytes
 * (journal/memory-budget.ts): for `run` (and its reloads) the heap of the daemon's process,
 * for `check` its own, which is the service's when it runs as `edgeflux` (the shebang gives
 * node the unit's flags).
 */
export function loadConfigToRun(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  heapLimit = getHeapStatistics().heap_size_limit,
  opts: Omit<LoadOptions, 'checks'> = {},
): Promise<LoadResult> {
  return loadConfigFile(path, env, { ...opts, checks: [...checks, memorySpoolFits(heapLimit)] });
}

/** Validates config text, devices included; `file` names it in issues, `baseDir` anchors relative paths. */
export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  baseDir?: string,
  opts: Omit<LoadOptions, 'checks'> = {},
): Promise<LoadResult> {
  return parseConfigFileText(text, file, env, baseDir, { ...opts, checks });
}
