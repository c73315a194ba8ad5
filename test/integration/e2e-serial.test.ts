/**
 * Devices end to end, as a user configures them (a serial SDS011 and Tasmota plugs, no rules): the daemon from
 * YAML with `serial:` naming the sds011 profile (a socat pty pair stands in for the
 * USB-serial adapter) and `devices:` naming the tasmota profile on the embedded broker,
 * writing to a real influxd 1.6.7. No `rules:` at all: the profiles decode everything.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon, type CapturedLog } from '../helpers/daemon.js';
import { startPtyPair, type PtyPair } from '../helpers/socat.js';
import type { Daemon } from '../../src/daemon.js';

/** An SDS011 data frame (protocol V1.3) for PM2.5 = pm25/10 µg/m³, PM10 = pm10/10, sensor id A1 60. */
function sdsFrame(pm25: number, pm10: number): Buffer {
  const b = Buffer.from([0xaa, 0xc0, pm25 & 0xff, pm25 >> 8, pm10 & 0xff, pm10 >> 8, 0xa1, 0x60, 0, 0xab]);
  let sum = 0;
  for (let i = 2; i < 8; i++) sum += b[i] as number;
  b[8] = sum & 0xff;
  return b;
}

let influx: Influxd;
let dir: { path: string; cleanup: () => Promise<void> };
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  influx = await startInfluxd();
  dir = await tempDir('edgeflux-e2e-serial-');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await influx?.stop();
  await dir?.cleanup();
});

function output(db: string): string {
  return `
outputs:
  - id: local
    type: influxdb_v1
    url: ${influx.url}
    database: ${db}
    batch: { max_points: 1000, max_age: 100ms }
spool: { dir: ${join(dir.path, db + '-spool')} }
dead_letter: { path: ${join(dir.path, db + '-dead.jsonl')} }
`;
}

async function daemonFrom(yaml: string): Promise<{ daemon: Daemon; log: CapturedLog }> {
  const d = await startDaemon(yaml, dir.path);
  cleanups.push(async () => expect(await d.daemon.stop()).toBe(true));
  return d;
}

async function ptys(): Promise<PtyPair> {
  const p = await startPtyPair();
  cleanups.push(() => p.close());
  return p;
}

/** The test's end of the pty pair: "the device". */
async function openDevice(path: string): Promise<SerialPort> {
  const dev = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => dev.open((e) => (e ? reject(e) : resolve())));
  dev.on('error', () => {});
  cleanups.push(() => new Promise<void>((r) => (dev.isOpen ? dev.close(() => r()) : r())));
  return dev;
}

function send(dev: SerialPort, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => dev.write(data, (e) => (e ? reject(e) : dev.drain(() => resolve()))));
}

type Row = [string, number, number];

async function particulates(db: string): Promise<Row[]> {
  const res = await influx.query('SELECT pm2_5, pm10 FROM particulates', db);
  return (res.results[0].series?.[0]?.values ?? []) as Row[];
}

const opens = (log: CapturedLog) => log.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('serial sds: open')).length;

describe('serial sensor (SDS011 profile) → influxd', () => {
  it('frames become the exact points; garbage between frames is counted and dead-lettered', async () => {
    const db = 'sds_frames';
    await influx.createDatabase(db);
    const pair = await ptys();
    const { daemon, log } = await daemonFrom(`
serial:
  - { id: sds, path: ${pair.a}, profile: sds011 }
${output(db)}`);
    await waitFor(() => opens(log) >= 1, 10_000, 'serial port open');
    const dev = await openDevice(pair.b);
    await send(dev, Buffer.concat([sdsFrame(123, 456), Buffer.from('DEADBEEF', 'hex'), sdsFrame(7, 9), sdsFrame(25, 41)]));

    await waitFor(async () => (await particulates(db)).length >= 3, 15_000, 'three points in influxd', 100);
    expect((await particulates(db)).map(([, a, b]) => [a, b])).toEqual([
      [12.3, 45.6],
      [0.7, 0.9],
      [2.5, 4.1],
    ]);
    const tags = await influx.query('SHOW TAG VALUES FROM particulates WITH KEY IN ("device", "sensor", "sensor_id")', db);
    expect(tags.results[0].series[0].values).toEqual([
      ['device', 'sds'],
      ['sensor', 'sds011'],
      ['sensor_id', 'a160'],
    ]);

    expect(daemon.counters.get('messages_failed', { source: 'sds', reason: 'bad_frame' })).toBe(1);
    expect(daemon.counters.get('serial_junk_bytes', { port: 'sds' })).toBe(4);
    const deadFile = join(dir.path, db + '-dead.jsonl');
    await waitFor(async () => (await readFile(deadFile, 'utf8').catch(() => '')).includes('bad_frame'), 10_000, 'dead letter written');
    const dead = (await readFile(deadFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      reason: 'bad_frame',
      source_id: 'sds',
      topic: 'sds',
      payload_bytes: 4,
      payload: Buffer.from('DEADBEEF', 'hex').toString('base64'),
      payload_encoding: 'base64',
    });
  });

  it('unplug (socat killed) and replug: the port resumes and no frame written after replug is lost', async () => {
    const db = 'sds_replug';
    await influx.createDatabase(db);
    const pair = await ptys();
    const { daemon, log } = await daemonFrom(`
serial:
  - { id: sds, path: ${pair.a}, profile: sds011 }
${output(db)}`);
    await waitFor(() => opens(log) >= 1, 10_000, 'serial port open');
    let dev = await openDevice(pair.b);
    await send(dev, sdsFrame(10, 20));
    await waitFor(async () => (await particulates(db)).length === 1, 15_000, 'first point', 100);

    await pair.unplug();
    await waitFor(() => log.lines.some((l) => l.level === 40 && String(l.msg).startsWith('serial sds:')), 10_000, 'port reported down');
    // Stays unplugged until a reopen attempt failed: the next one starts only after that.
    await waitFor(() => daemon.counters.get('serial_reopens', { port: 'sds' }) >= 2, 10_000, 'a reopen attempt failing while unplugged');
    await pair.replug();
    await waitFor(() => opens(log) >= 2, 10_000, 'port open again');

    dev = await openDevice(pair.b);
    const after = Array.from({ length: 40 }, (_, i) => sdsFrame(100 + i, 200 + i));
    for (const f of after) await send(dev, f);
    await waitFor(async () => (await particulates(db)).length === 1 + after.length, 15_000, 'every frame written after replug', 100);
    expect((await particulates(db)).slice(1).map(([, a]) => a)).toEqual(after.map((_, i) => (100 + i) / 10));
    expect(daemon.counters.get('serial_reopens', { port: 'sds' })).toBeGreaterThanOrEqual(1);
    expect(daemon.counters.get('messages_failed', { source: 'sds', reason: 'bad_frame' })).toBe(0);
  });
});

describe('Tasmota profile over the embedded broker → influxd', () => {
  it('tele/<t>/SENSOR becomes the expected points; an LWT Offline becomes a device_status point, not a reading', async () => {
    const db = 'tasmota';
    await influx.createDatabase(db);
    const { daemon, log } = await daemonFrom(`
broker: { port: 0 }
devices:
  - { profile: tasmota, tags: { site: home } }
${output(db)}`);
    const client = await publisher(daemon.brokerPort!);
    cleanups.push(() => client.endAsync());
    await publishAll(client, [
      {
        topic: 'tele/plug1/SENSOR',
        payload:
          '{"Time":"2024-01-15T12:35:00","ENERGY":{"TotalStartTime":"2023-11-01T10:00:00","Total":12.345,"Yesterday":0.512,"Today":0.101,"Period":0,"Power":45,"ApparentPower":60,"ReactivePower":40,"Factor":0.75,"Voltage":230,"Current":0.261}}',
      },
      {
        topic: 'tele/kitchen-th/SENSOR',
        payload: '{"Time":"2024-01-15T12:34:56","AM2301":{"Temperature":21.3,"Humidity":45.2,"DewPoint":8.9},"TempUnit":"C"}',
      },
      { topic: 'tele/plug1/LWT', payload: 'Offline' },
    ]);

    await waitFor(async () => (await influx.count(db, 'tasmota')) >= 2 && (await influx.count(db, 'device_status')) >= 1, 15_000, 'points in influxd', 100);
    const plug = await influx.query("SELECT * FROM tasmota WHERE device = 'plug1'", db);
    const s = plug.results[0].series[0] as { columns: string[]; values: unknown[][] };
    const row = Object.fromEntries(s.columns.map((c, i) => [c, s.values[0]?.[i]]));
    expect(s.values).toHaveLength(1);
    expect(row).toMatchObject({
      device: 'plug1',
      sensor: 'ENERGY',
      site: 'home',
      energy_total: 12.345,
      energy_today: 0.101,
      energy_yesterday: 0.512,
      power: 45,
      apparent_power: 60,
      reactive_power: 40,
      power_factor: 0.75,
      voltage: 230,
      current: 0.261,
    });
    expect(row).not.toHaveProperty('total_start_time');
    const th = await influx.query("SELECT temperature, humidity, dew_point FROM tasmota WHERE device = 'kitchen-th' AND sensor = 'AM2301'", db);
    expect(th.results[0].series[0].values.map((v: unknown[]) => v.slice(1))).toEqual([[21.3, 45.2, 8.9]]);

    const st = await influx.query('SELECT "state", "online", device, profile FROM device_status', db);
    expect(st.results[0].series[0].values.map((v: unknown[]) => v.slice(1))).toEqual([['offline', false, 'plug1', 'tasmota']]);
    // The LWT wrote no reading: only the two SENSOR messages are in `tasmota`.
    expect(await influx.count(db, 'tasmota')).toBe(2);
    expect(daemon.counters.get('device_status', { profile: 'tasmota', state: 'offline' })).toBe(1);
    expect(log.lines.some((l) => l.msg === 'device plug1 (tasmota): offline')).toBe(true);
  });
});
