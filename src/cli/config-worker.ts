/**
 * The child process of config-apart.ts: loads and validates the config file named by its one
 * argument (devices included, secrets read, as the daemon needs them; a memory spool checked
 * against the daemon's heap limit, its second argument), looks for secret
 * files every user may read, sends both to the parent over IPC and exits.
 */
import { loadConfigToRun } from './load-config.js';
import { worldReadableSecrets } from '../config/permissions.js';
import type { ApartLoad } from './config-apart.js';

const path = process.argv[2];
const heapLimit = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const send = process.send?.bind(process);
if (send === undefined || path === undefined) {
  process.stderr.write('edgeflux: config-worker runs as the child of edgeflux run\n');
  process.exitCode = 2;
} else {
  // The parent gone (stopped, killed) or done with us: nothing is left to do.
  process.once('disconnect', () => process.exit(0));
  const [load, permissions] = await Promise.all([loadConfigToRun(path, process.env, heapLimit), worldReadableSecrets(path)]);
  const answer: ApartLoad = { load, permissions };
  send(answer, undefined, undefined, () => {
    if (process.connected) process.disconnect();
  });
}
