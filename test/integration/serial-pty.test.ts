/**
 * SerialSource against real pseudo-terminals: a socat pty pair per test stands in for a
 * USB-serial device (one end is "the device path" edgeflux opens, the test writes to and
 * reads from the other end). Unplug = socat stopped (the reading port gets `close` with
 * `disconnected`); replug = socat started again on the same link paths.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { silentLogger } from '../../src/observe/logger.js';
import { Counters } from '../../src/observe/counters.js';
import { resolveSerialPort, serialPortSchema, type SerialPortSettings } from '../../src/config/schema-serial.js';
import { DeviceDecoders } from '../../src/devices/profiles/device-decoders.js';
import { loadProfiles, type ProfileCatalog } from '../../src/devices/profiles/load.js';
import { isDeviceStatus } from '../../src/devices/profiles/types.js';
import { SerialSource } from '../../src/sources/serial/serial-source.js';
import type { RawMessage, Reading, SourceStatus } from '../../src/types.js';
import { startPtyPair, type PtyPair } from '../helpers/socat.js';
import { waitFor } from '../helpers/net.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An SDS011 data frame for PM2.5 = pm25/10, PM10 = pm10/10. */
function sdsFrame(pm25: number, pm10: number): Buffer {
  const b = Buffer.from([0xaa, 0xc0, pm25 & 0xff, pm25 >> 8, pm10 & 0xff, pm10 >> 8, 0xa1, 0x60, 0, 0xab]);
  let sum = 0;
  for (let i = 2; i < 8; i++) sum += b[i] as number;
  b[8] = sum & 0xff;
  return b;
}

/** An MH-Z19B reply for `ppm`. */
function mhzReply(ppm: number): Buffer {
  const b = Buffer.from([0xff, 0x86, ppm >> 8, ppm & 0xff, 0x47, 0, 0, 0, 0]);
  let sum = 0;
  for (let i = 1; i < 8; i++) sum += b[i] as number;
  b[8] = (0x100 - (sum & 0xff)) & 0xff;
  return b;
}

let catalog: ProfileCatalog;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const r = await loadProfiles();
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  catalog = r.catalog;
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function portSettings(id: string, path: string, profile: string, extra: Record<string, unknown> = {}): SerialPortSettings {
  const s = resolveSerialPort(serialPortSchema.parse({ id, path, profile, ...extra }), catalog.profiles.get(profile)?.spec.serial);
  if ('error' in s) throw new Error(s.error);
  return s;
}

interface Harness {
  source: SerialSource;
  counters: Counters;
  messages: RawMessage[];
  readings: Reading[];
  errors: string[];
  statuses: SourceStatus[];
}

async function startSource(settings: SerialPortSettings): Promise<Harness> {
  const counters = new Counters();
  const source = new SerialSource({ settings, logger: silentLogger(), counters });
  const profile = catalog.profiles.get(settings.profile as string);
  if (profile === undefined) throw new Error('no profile');
  const decoders = new DeviceDecoders({ serial: [{ port: settings.id, profile }] });
  const h: Harness = { source, counters, messages: [], readings: [], errors: [], statuses: [] };
  source.status$.subscribe((s) => h.statuses.push(s));
  source.messages().subscribe((m) => {
    h.messages.push(m);
    const r = decoders.decode(m);
    if (Array.isArray(r)) h.readings.push(...r);
    else if (r !== undefined && !isDeviceStatus(r)) h.errors.push(r.reason);
    m.ack();
  });
  cleanups.push(() => source.stop());
  await source.start();
  return h;
}

/** The test's end of the pair, opened with the real binding. */
async function openPeer(path: string): Promise<SerialPort> {
  const peer = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => peer.open((e) => (e ? reject(e) : resolve())));
  peer.on('error', () => {});
  cleanups.push(() => new Promise<void>((r) => (peer.isOpen ? peer.close(() => r()) : r())));
  return peer;
}

function write(peer: SerialPort, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => peer.write(data, (e) => (e ? reject(e) : peer.drain(() => resolve()))));
}

async function ptys(): Promise<PtyPair> {
  const p = await startPtyPair();
  cleanups.push(() => p.close());
  return p;
}

describe('serial source on real ptys (socat)', () => {
  it('bytes written into one end arrive as RawMessages and decoded readings; garbage between frames resyncs and is counted', async () => {
    const pair = await ptys();
    const h = await startSource(portSettings('sds', pair.a, 'sds011'));
    await waitFor(() => h.statuses.at(-1)?.state === 'up', 10_000, 'port up');
    const peer = await openPeer(pair.b);
    await write(peer, Buffer.concat([sdsFrame(123, 456), hex('DE AD BE EF'), sdsFrame(7, 9), sdsFrame(1000, 2000).subarray(0, 5), sdsFrame(25, 41)]));
    await waitFor(() => h.readings.length >= 3, 10_000, 'three readings');
    expect(h.readings.map((r) => [r.fields.pm2_5, r.fields.pm10])).toEqual([
      [12.3, 45.6],
      [0.7, 0.9],
      [2.5, 4.1],
    ]);
    expect(h.readings[0]).toMatchObject({ measurement: 'particulates', tags: { device: 'sds', sensor: 'sds011', sensor_id: 'a160' } });
    expect(h.messages.every((m) => m.topic === 'sds' && m.sourceId === 'sds')).toBe(true);
    // The garbage and the truncated frame: each a junk run, rejected by the decoder (dead-lettered by the daemon).
    expect(h.errors).toEqual(['bad_frame', 'bad_frame']);
    expect(h.counters.get('serial_resyncs', { port: 'sds' })).toBe(2);
    expect(h.counters.get('serial_junk_bytes', { port: 'sds' })).toBe(9);
  });

  it('unplug (socat killed) and replug: the port resumes and no frame written after replug is lost', async () => {
    const pair = await ptys();
    const h = await startSource(portSettings('sds', pair.a, 'sds011'));
    await waitFor(() => h.statuses.at(-1)?.state === 'up', 10_000, 'port up');
    let peer = await openPeer(pair.b);
    await write(peer, sdsFrame(10, 20));
    await waitFor(() => h.readings.length === 1, 10_000, 'first reading');

    await pair.unplug();
    // Down by the reported hangup, or by the silence watchdog (10 s for this profile) when the
    // hangup is not reported: seen once in a dozen CI runs (serialport gave no close event).
    await waitFor(() => h.statuses.at(-1)?.state === 'down', 15_000, 'port down');
    expect(h.statuses.at(-1)?.lastError).toMatch(/disconnected|no data for 10000 ms \(watchdog\)/);
    // Stay unplugged for a while: the reopen attempts fail and back off (between attempts
    // the state is down, during one connecting: never up while the device is away).
    const downAt = h.statuses.length;
    await waitFor(
      () => {
        const since = h.statuses.slice(downAt);
        const i = since.findIndex((s) => s.state === 'connecting');
        return i >= 0 && since.slice(i + 1).some((s) => s.state === 'down');
      },
      10_000,
      'a reopen attempt failing while unplugged',
    );
    expect(h.statuses.slice(downAt - 1).every((s) => s.state === 'down' || s.state === 'connecting')).toBe(true);

    await pair.replug();
    const replugged = Date.now();
    await waitFor(() => h.statuses.at(-1)?.state === 'up', 10_000, 'port up again');
    const resumeMs = Date.now() - replugged;
    // By design at most reconnect.max (1 s) + the open; a generous bound here, as the
    // machine is shared (the 2 s property is asserted on virtual time in the unit test).
    expect(resumeMs).toBeLessThan(5000);

    peer = await openPeer(pair.b);
    const after = Array.from({ length: 50 }, (_, i) => sdsFrame(100 + i, 200 + i));
    for (const f of after) await write(peer, f);
    await waitFor(() => h.readings.length === 1 + after.length, 10_000, 'every frame written after replug');
    expect(h.readings.slice(1).map((r) => r.fields.pm2_5)).toEqual(after.map((_, i) => (100 + i) / 10));
    expect(h.errors).toEqual([]);
    expect(h.counters.get('serial_reopens', { port: 'sds' })).toBeGreaterThanOrEqual(1);
    console.info(`serial resumed ${resumeMs} ms after the device came back`);
  });

  it('polls an MH-Z19B simulated on the other end, and counts a reply that does not come', async () => {
    const pair = await ptys();
    const peer = await openPeer(pair.b);
    const requests: string[] = [];
    let answer = true;
    let ppm = 600;
    peer.on('data', (d: Buffer) => {
      requests.push(d.toString('hex'));
      if (answer) peer.write(mhzReply(ppm++));
    });
    const h = await startSource(
      portSettings('co2', pair.a, 'mhz19b', { poll: { request: 'FF 01 86 00 00 00 00 00 79', interval: '300ms', timeout: '200ms' } }),
    );
    await waitFor(() => h.readings.length >= 3, 10_000, 'three polled readings');
    expect(h.readings.slice(0, 3).map((r) => r.fields.co2)).toEqual([600, 601, 602]);
    expect(h.readings[0]).toMatchObject({ measurement: 'co2', tags: { device: 'co2', sensor: 'mhz19b' } });
    expect(requests.slice(0, 3)).toEqual(Array(3).fill('ff0186000000000079'));
    answer = false;
    await waitFor(() => h.counters.get('serial_poll_timeouts', { port: 'co2' }) >= 1, 10_000, 'a poll timeout');
    expect(h.errors).toEqual([]);
  });

  it('NMEA sentences over a readline-framed port', async () => {
    const pair = await ptys();
    const h = await startSource(portSettings('gps', pair.a, 'nmea-gps'));
    await waitFor(() => h.statuses.at(-1)?.state === 'up', 10_000, 'port up');
    const peer = await openPeer(pair.b);
    await write(
      peer,
      Buffer.from(
        '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\r\n' +
          '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n' +
          '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*46\r\n',
        'latin1',
      ),
    );
    await waitFor(() => h.messages.length >= 3, 10_000, 'three sentences');
    expect(h.readings).toHaveLength(1);
    expect(h.readings[0]).toMatchObject({ measurement: 'gps', fields: { latitude: 48.1173, valid: true, speed_knots: 22.4 } });
    expect(h.errors).toEqual(['checksum_mismatch']);
  });
});
