/** What the results must say about where they were measured: machine, load, versions. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { INFLUXD_BIN, MOSQUITTO_BIN } from './servers.js';

function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, cwd, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    // mosquitto -h exits non-zero but prints its version.
    return String((e as { stdout?: string }).stdout ?? '').trim();
  }
}

function pkgVersion(root: string, pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export function machineInfo(): string[] {
  const c = cpus();
  let distro: string;
  try {
    distro = `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}`;
  } catch {
    distro = 'not Debian';
  }
  return [`${c.length} × ${c[0]?.model.trim() ?? 'CPU'}`, `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`, `Linux ${release()}, ${distro}`];
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

export function versions(root: string, extra: string[] = []): string[] {
  const mosq = /version ([\d.]+)/.exec(run(MOSQUITTO_BIN, ['-h']))?.[1] ?? '?';
  const influx = /v([\d.]+\S*)/.exec(run(INFLUXD_BIN, ['version']))?.[1] ?? '?';
  const commit = run('git', ['rev-parse', '--short', 'HEAD'], root) || '?';
  const dirty = run('git', ['status', '--porcelain', '--', 'src'], root) ? ' + uncommitted changes in src/' : '';
  return [`edgeflux ${commit}${dirty}`, `Node ${process.version}`, `mosquitto ${mosq}`, `InfluxDB ${influx}`, `mqtt.js ${pkgVersion(root, 'mqtt')}`, ...extra];
}
