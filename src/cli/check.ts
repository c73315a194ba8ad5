import { getHeapStatistics } from 'node:v8';
import { loadConfigToRun, formatIssue, formatIssueWithCode } from './load-config.js';

/**
 * Validates a config file; prints every error with file:line:column key and its code
 * (docs/troubleshooting.md), or a summary. It makes the checks `run` makes, the memory
 * spool's against this process's heap limit (EFX_SPOOL_HEAP_TOO_SMALL): run as `edgeflux`,
 * node has the unit's --max-old-space-size, so a spool the service could not hold is
 * reported before a restart refuses it.
 * A secret it cannot read here (`${CREDENTIALS_DIRECTORY}` is set only for the service, a
 * file only the service user may read) is a warning naming it, not an error: the daemon
 * reads it where it runs.
 */
export async function checkCommand(path: string, heapLimit = getHeapStatistics().heap_size_limit): Promise<number> {
  const res = await loadConfigToRun(path, process.env, heapLimit, { secrets: 'warn' });
  if (!res.ok) {
    for (const issue of res.errors) process.stderr.write(`${formatIssueWithCode(issue)}\n`);
    process.stderr.write(`${res.errors.length} error${res.errors.length === 1 ? '' : 's'} in ${path}\n`);
    return 2;
  }
  for (const w of res.warnings ?? []) process.stderr.write(`warning: ${formatIssue(w)}\n`);
  const c = res.config;
  const sources = [...(c.broker ? [`broker ${c.broker.host}:${c.broker.port}`] : []), ...c.mqtt.map((m) => `mqtt ${m.id}`)];
  process.stdout.write(
    `${path}: ok — sources: ${sources.join(', ')}; rules: ${c.rules.length}; outputs: ${c.outputs.map((o) => `${o.id} (${o.type})`).join(', ')}\n`,
  );
  return 0;
}
