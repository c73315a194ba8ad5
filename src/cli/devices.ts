/**
 * `edgeflux devices list` and `edgeflux devices show NAME`: the device profiles
 * available (shipped in devices/, plus the user's directories), and what one of them
 * matches, decodes and writes.
 *
 * Options: `--config FILE` adds the config's `device_profiles.dirs`; `--dir DIR` (repeatable)
 * adds a profile directory. Exit codes: 0 ok; 2 usage error, unknown profile, or a profile
 * file with errors (each printed as file:line:column key: message).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { formatIssueWithCode } from '../config/load.js';
import { formatDuration } from '../config/units.js';
import { loadProfiles, type ProfileCatalog } from '../devices/profiles/load.js';
import { fillVars, type Profile } from '../devices/profiles/profile.js';
import type { PipelineStep } from '../pipeline/compose.js';

const USAGE = `Usage:
  edgeflux devices list [--config FILE] [--dir DIR]...     the available device profiles
  edgeflux devices show NAME [--config FILE] [--dir DIR]... what a profile matches, decodes and writes
`;

interface Out {
  write(s: string): unknown;
}

export async function devicesCommand(args: readonly string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, dir: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    err.write(`edgeflux devices: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, name, ...extra] = positionals;
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if ((sub !== 'list' && sub !== 'show') || (sub === 'show' && name === undefined) || extra.length > 0 || (sub === 'list' && name !== undefined)) {
    err.write(USAGE);
    return 2;
  }
  const dirs = [...(values.dir ?? []).map((d) => resolve(d))];
  if (values.config !== undefined) {
    const fromConfig = await configDirs(values.config);
    if (typeof fromConfig === 'string') {
      err.write(`edgeflux devices: ${fromConfig}\n`);
      return 2;
    }
    dirs.push(...fromConfig);
  }
  const res = await loadProfiles({ dirs });
  let code = 0;
  if (!res.ok) {
    for (const i of res.errors) err.write(`${formatIssueWithCode(i)}\n`);
    err.write(`${res.errors.length} error${res.errors.length === 1 ? '' : 's'} in device profiles\n`);
    code = 2;
  }
  if (sub === 'list') {
    out.write(listText(res.catalog));
    return code;
  }
  const p = res.catalog.profiles.get(name as string);
  if (p === undefined) {
    err.write(`edgeflux devices: no profile "${name}" (see edgeflux devices list)\n`);
    return 2;
  }
  out.write(showText(p, res.catalog.replaced.get(p.spec.name)));
  return code;
}

/** `device_profiles.dirs` of a config file, resolved against its directory. */
async function configDirs(file: string): Promise<string[] | string> {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, { encoding: 'utf8', signal: AbortSignal.timeout(5000) }));
  } catch (e) {
    const code = (e as { code?: string }).code;
    return `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)}`;
  }
  const dirs = (doc as { device_profiles?: { dirs?: unknown } } | null)?.device_profiles?.dirs;
  if (dirs === undefined) return [];
  if (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string')) return `${file}: device_profiles.dirs must be a list of directories`;
  return dirs.map((d: string) => resolve(dirname(resolve(file)), d));
}

function transport(p: Profile): string {
  return p.spec.mqtt !== undefined ? 'mqtt' : 'serial';
}

export function listText(catalog: ProfileCatalog): string {
  const rows = [...catalog.profiles.values()].sort((a, b) => transport(a).localeCompare(transport(b)) || a.spec.name.localeCompare(b.spec.name));
  const w = Math.max(4, ...rows.map((p) => p.spec.name.length));
  const lines = [`${'NAME'.padEnd(w)}  TRANSPORT  ORIGIN   DESCRIPTION`];
  for (const p of rows) lines.push(`${p.spec.name.padEnd(w)}  ${transport(p).padEnd(9)}  ${p.origin.padEnd(7)}  ${p.spec.description}`);
  lines.push('', `${rows.length} profiles. Details: edgeflux devices show NAME`);
  return lines.join('\n') + '\n';
}

function bytes(b: readonly number[] | undefined): string {
  return (b ?? []).map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** Step options that are durations (ms after validation). */
const DURATION_OPTIONS = new Set(['every', 'period', 'offset', 'allowed_lateness', 'heartbeat', 'idle', 'quiet', 'interval']);

/** One validated step in YAML flow style, defaults included, durations in units: `deadband: { abs: 0.2, heartbeat: 5m }`. */
function stepText(step: PipelineStep): string {
  const [op, opts] = Object.entries(step)[0] as [string, Record<string, unknown>];
  const value = (k: string, v: unknown): string =>
    DURATION_OPTIONS.has(k) && typeof v === 'number' ? formatDuration(v) : Array.isArray(v) ? `[${v.join(', ')}]` : String(v);
  const parts = Object.entries(opts).flatMap(([k, v]) => (v === undefined ? [] : [`${k}: ${value(k, v)}`]));
  return `${op}: { ${parts.join(', ')} }`;
}

export function showText(p: Profile, replaced?: string): string {
  const s = p.spec;
  const L: string[] = [`${s.name} — ${s.description}`, ''];
  L.push(`  file:        ${p.file} (${p.origin}${replaced ? ', replaces the shipped profile' : ''})`);
  if (s.docs) L.push(`  documented:  ${s.docs}`);
  const filled = (t: string) => {
    const f = fillVars(t, s.vars);
    return typeof f === 'string' ? f : t;
  };
  if (s.mqtt) {
    L.push(`  topics:      ${s.mqtt.topics.map(filled).join(', ')}`);
    for (const a of s.mqtt.availability) {
      const states = (['online', 'offline', 'init', 'sleeping'] as const)
        .filter((k) => a[k].length > 0)
        .map((k) => `${k}=${a[k].join('|')}`)
        .join(' ');
      L.push(`  availability: ${filled(a.topic)}${a.json_key ? ` (JSON key "${a.json_key}")` : ''}: ${states} → a device status, not a reading`);
    }
    if (Object.keys(s.vars).length > 0)
      L.push(
        `  vars:        ${Object.entries(s.vars)
          .map(([k, v]) => `%${k}% = ${v}`)
          .join(', ')} (override per devices[] entry: vars)`,
      );
  }
  if (s.serial) {
    const c = s.serial;
    L.push(
      `  serial:      ${c.baud_rate ?? 9600} baud, ${c.data_bits ?? 8}${(c.parity ?? 'none')[0]?.toUpperCase()}${c.stop_bits ?? 1}${c.watchdog ? `, watchdog ${formatDuration(c.watchdog)}` : ''}`,
    );
    const f = c.framing;
    if (f?.type === 'frame') {
      L.push(
        `  framing:     frames starting ${bytes(f.start)}, ${f.length !== undefined ? `${f.length} bytes` : `length from byte ${f.length_field?.offset}`}${f.end ? `, ending ${bytes(f.end)}` : ''}${f.checksum ? `, checksum ${f.checksum.type}` : ''}`,
      );
    } else if (f !== undefined) {
      L.push(`  framing:     ${f.type}${f.type === 'readline' ? ` (delimiter ${JSON.stringify(f.delimiter)})` : ''}`);
    }
    if (c.poll)
      L.push(`  polled:      request ${bytes(c.poll.request)} every ${formatDuration(c.poll.interval)}, reply within ${formatDuration(c.poll.timeout)}`);
  }
  L.push(`  decoder:     ${s.decode.decoder} — ${p.decoder.description}`);
  const params = JSON.stringify(p.params);
  if (params !== '{}') L.push(`  params:      ${params}`);
  L.push(`  measurement: ${s.measurement}`);
  if (Object.keys(s.tags).length > 0)
    L.push(
      `  tags:        ${Object.entries(s.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  if (s.drop_tags.length > 0) L.push(`  not tags:    ${s.drop_tags.join(', ')}`);
  L.push(`  time:        ${s.time === 'payload' ? 'from the payload when it has one, else arrival' : 'arrival'}`);
  if (s.expected_interval !== undefined) L.push(`  reports:     every ${formatDuration(s.expected_interval)}`);
  if (s.fields.length > 0) {
    L.push('', '  fields:');
    const w = Math.max(...s.fields.map((f) => f.name.length));
    for (const f of s.fields) {
      L.push(
        `    ${f.name.padEnd(w)}  ${f.type.padEnd(7)}  ${(f.unit ?? '').padEnd(7)}${f.from && f.from !== f.name ? `  from ${f.from}` : ''}${f.description ? `  ${f.description}` : ''}`.trimEnd(),
      );
    }
  }
  L.push(
    `  other fields: ${s.other_fields === 'keep' ? `kept (numbers${s.numeric_strings === 'float' ? ' and numeric strings' : ''} float${s.field_names === 'snake_case' ? ', names in snake_case' : ''})` : 'dropped'}${s.drop.length > 0 ? `; never written: ${s.drop.join(', ')}` : ''}`,
  );
  if (s.pipeline !== undefined && s.pipeline.length === 0) L.push('  pipeline:    none');
  if (s.pipeline !== undefined && s.pipeline.length > 0) {
    L.push('', "  pipeline:    (before the global pipeline; a devices[] or serial[] entry's own pipeline replaces it)");
    for (const step of s.pipeline) L.push(`    - ${stepText(step)}`);
  }
  L.push('', '  use it:');
  if (s.mqtt) L.push('    devices:', `      - profile: ${s.name}`);
  else
    L.push('    serial:', `      - id: ${s.name.replace(/[^a-z0-9]+/g, '')}`, '        path: /dev/serial/by-id/usb-…-if00-port0', `        profile: ${s.name}`);
  return L.join('\n') + '\n';
}
