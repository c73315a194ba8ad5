/**
 * `edgeflux spool status --config FILE`: asks the running daemon's health listener
 * (`service.http` host/port from the config) for `GET /spool` and prints the journal's
 * size, each output's cursor, how far it is behind and its state, and the drops.
 */
import { request } from 'node:http';
import { loadConfig, formatIssue } from './load-config.js';

const TIMEOUT_MS = 5_000;

/** The JSON the daemon serves at /spool (its `SpoolStatus`). */
interface SpoolStatusJson {
  readonly mode: string;
  readonly journal: { readonly bytes: number; readonly segments: number; readonly oldestSeq: number; readonly headSeq: number; readonly dropped: number };
  readonly holding: number;
  readonly outputs: readonly {
    readonly id: string;
    readonly cursor: number;
    readonly behind: number;
    readonly state: string;
    readonly lastError?: string;
    readonly lastErrorAt?: number;
    readonly lastSuccessAt?: number;
  }[];
}

export async function spoolStatusCommand(
  configPath: string | undefined,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  if (!configPath) {
    err.write('edgeflux spool status: --config FILE is required\n');
    return 2;
  }
  const res = await loadConfig(configPath, process.env, { secrets: 'skip' }); // only service.http is needed
  if (!res.ok) {
    for (const issue of res.errors) err.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  const { host, port } = res.config.service.http;
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${h.includes(':') ? `[${h}]` : h}:${port}/spool`;
  let answer: { status: number; body: string };
  try {
    answer = await get(url, TIMEOUT_MS);
  } catch (e) {
    err.write(`edgeflux spool status: no daemon answers at ${url} (${(e as Error).message}); is edgeflux running with this config?\n`);
    return 1;
  }
  if (answer.status !== 200) {
    err.write(`edgeflux spool status: ${url} answered ${answer.status}: ${answer.body.trim()}\n`);
    return 1;
  }
  out.write(formatSpoolStatus(JSON.parse(answer.body) as SpoolStatusJson));
  return 0;
}

export function formatSpoolStatus(s: SpoolStatusJson): string {
  const j = s.journal;
  const lines = [
    `spool: ${s.mode} mode, ${formatBytes(j.bytes)} in ${j.segments} segment(s), seq ${j.oldestSeq}..${j.headSeq}, ${j.headSeq - j.oldestSeq} message(s)`,
    `dropped (quota): ${j.dropped}; holding unacknowledged: ${s.holding}`,
    'outputs:',
  ];
  const w = Math.max(6, ...s.outputs.map((o) => o.id.length));
  lines.push(`  ${'ID'.padEnd(w)}  ${'STATE'.padEnd(8)}  ${'CURSOR'.padStart(10)}  ${'BEHIND'.padStart(10)}  LAST ERROR`);
  for (const o of s.outputs)
    lines.push(`  ${o.id.padEnd(w)}  ${o.state.padEnd(8)}  ${String(o.cursor).padStart(10)}  ${String(o.behind).padStart(10)}  ${currentError(o) ?? '-'}`);
  return `${lines.join('\n')}\n`;
}

/** The output's last error, unless a write succeeded since (then it is history, not state). */
function currentError(o: SpoolStatusJson['outputs'][number]): string | undefined {
  if (o.lastError === undefined) return undefined;
  const since = o.lastSuccessAt !== undefined && o.lastErrorAt !== undefined && o.lastSuccessAt > o.lastErrorAt;
  return since ? undefined : o.lastError;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
