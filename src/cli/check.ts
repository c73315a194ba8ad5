import { loadConfig, formatIssue, formatIssueWithCode } from './load-config.js';

/**
 * Validates a config file; prints every error with file:line:column key and its code
 * (docs/troubleshooting.md), or a summary.
 * A secret it cannot read here (`${CREDENTIALS_DIRECTORY}` is set only for the service, a
 * file only the service user may read) is a warning naming it, not an error: the daemon
 * reads it where it runs.
 */
export async function checkCommand(path: string): Promise<number> {
  const res = await loadConfig(path, process.env, { secrets: 'warn' });
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
