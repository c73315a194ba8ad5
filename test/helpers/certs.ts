import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A throwaway CA in `dir` (ca.crt/ca.key), a server certificate for 127.0.0.1
 * (server.crt/server.key) and client certificates (`<name>.crt/.key` with the given CN);
 * EC keys, so it takes milliseconds. Needs the `openssl` command.
 */
export async function makeCerts(dir: string, clients: readonly (readonly [name: string, cn: string])[] = [['client', 'edgeflux']]): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await writeFile(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=edgeflux test CA'], { cwd: dir });
  for (const [name, cn] of [['server', '127.0.0.1'] as const, ...clients]) {
    await run('openssl', ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], { cwd: dir });
    await run(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        ...(name === 'server' ? ['-extfile', 'san.cnf'] : []),
      ],
      { cwd: dir },
    );
  }
}
