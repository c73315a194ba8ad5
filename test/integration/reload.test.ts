import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { influxdPerFile } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { startAckedPublisher } from '../helpers/acked-publisher.js';
import { publishAll, publisher } from '../helpers/daemon.js';
import { parsePrometheus } from '../helpers/prometheus.js';

// SIGHUP on the real daemon process while a QoS 1 stream flows: an invalid config is
// refused (logged, still running on the old one); a valid one is applied; every reading
// acknowledged across both is in InfluxDB.

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/main.ts')];

const fx = influxdPerFile();
let child: ChildProcess | undefined;
afterAll(async () => {
  child?.kill('SIGKILL');
});

const config = (port: number, extra = '') => `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - topic: "reload/{device}/{measurement}"
    format: json
    json: { time_key: ts, time_unit: ms, integers: [n] }
${extra}
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: reload, batch: { max_age: 100ms } }
spool: { dir: ./spool }
service: { http: { port: 0 } }
`;

describe('SIGHUP reload', () => {
  it('refuses an invalid config and keeps running; applies a valid one; loses no acknowledged reading', async () => {
    await fx.influx.createDatabase('reload');
    const port = await freePort();
    const file = join(fx.dir.path, 'edgeflux.yaml');
    await writeFile(file, config(port));
    child = spawn(process.execPath, [...CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('edgeflux started'), 30_000, 'edgeflux started');

    const base = Date.UTC(2024, 0, 1);
    const pub = startAckedPublisher({ port, window: 50, message: (i) => ({ topic: 'reload/d1/stream', payload: JSON.stringify({ n: i, ts: base + i }) }) });
    try {
      await waitFor(() => pub.acked.size > 200, 15_000, 'acks');

      await writeFile(file, config(port, 'oops: [unclosed'));
      child.kill('SIGHUP');
      await waitFor(() => out.includes('reload refused'), 10_000, 'the refusal');
      const after = pub.acked.size;
      await waitFor(() => pub.acked.size > after + 200, 15_000, 'acks after the refused reload');
      expect(child.exitCode).toBeNull();

      // Valid: a second rule, so something really changed.
      await writeFile(file, config(port, '  - { topic: "other/{device}/{measurement}", format: json }'));
      child.kill('SIGHUP');
      await waitFor(() => out.includes('reload done'), 20_000, 'the reload');
      const later = pub.acked.size;
      await waitFor(() => pub.acked.size > later + 200, 20_000, 'acks after the reload');

      pub.pause();
      await waitFor(() => pub.inFlight === 0, 10_000, 'in-flight publishes acknowledged');
      const acked = [...pub.acked];
      await waitFor(async () => (await fx.influx.count('reload', 'stream')) >= acked.length, 30_000, 'acknowledged readings in InfluxDB', 200);
      const stored = new Set(await fx.influx.numbers('SELECT n FROM stream', 'reload'));
      expect(acked.filter((i) => !stored.has(i))).toEqual([]);
    } finally {
      await pub.close();
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);

  it("keeps counters, the device list and the devices' state across a reload", async () => {
    await fx.influx.createDatabase('keep');
    const port = await freePort();
    const http = await freePort();
    const file = join(fx.dir.path, 'keep.yaml');
    const yaml = (extra = '') => `
broker: { host: 127.0.0.1, port: ${port} }
rules:
  - { topic: "keep/{device}/{measurement}", format: json }
${extra}
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: keep, batch: { max_age: 100ms } }
spool: { dir: ./spool-keep }
dead_letter: { path: ./dead-keep.jsonl }
service: { http: { port: ${http} } }
`;
    await writeFile(file, yaml());
    const proc = spawn(process.execPath, [...CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('edgeflux started'), 30_000, 'edgeflux started');
    const metrics = async () => parsePrometheus(await (await fetch(`http://127.0.0.1:${http}/metrics`, { signal: AbortSignal.timeout(5000) })).text());
    const c = await publisher(port);
    try {
      await publishAll(
        c,
        Array.from({ length: 5 }, (_, i) => ({ topic: 'keep/d1/env', payload: JSON.stringify({ t: i }) })),
      );
      await waitFor(async () => (await metrics()).get('edgeflux_messages_received_total{source="broker"}') === 5, 10_000, '5 received');
      const before = await metrics();
      expect(before.get('edgeflux_device_readings_total{device="d1"}')).toBe(5);
      const lastSeen = before.get('edgeflux_device_last_seen_timestamp_seconds{device="d1"}');

      await writeFile(file, yaml('  - { topic: "other/{device}/{measurement}", format: json }'));
      proc.kill('SIGHUP');
      await waitFor(() => out.includes('reload done'), 20_000, 'the reload');
      const after = await metrics();
      expect(after.get('edgeflux_messages_received_total{source="broker"}')).toBe(5);
      expect(after.get('edgeflux_device_readings_total{device="d1"}')).toBe(5);
      expect(after.get('edgeflux_device_last_seen_timestamp_seconds{device="d1"}')).toBe(lastSeen);
    } finally {
      await c.endAsync();
    }
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
