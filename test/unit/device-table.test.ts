import { describe, expect, it } from 'vitest';
import { DeviceTable, WATCHED_MS } from '../../src/observe/device-table.js';
import type { Reading } from '../../src/types.js';

const reading = (device: string, fields: Reading['fields'], measurement = 'climate'): Reading => ({ measurement, tags: { device }, fields, time: 0n });
/** The `device_status` reading a profile's availability message becomes (devices/profiles/types.ts). */
const status = (device: string, state: string): Reading => ({
  measurement: 'device_status',
  tags: { device, profile: 'tasmota' },
  fields: { state, online: state === 'online' },
  time: 0n,
});

describe('DeviceTable', () => {
  it('keeps each device’s latest values, source and count, and its profile’s units, looked up when it is first seen or changes source', () => {
    const tasmota = { temperature: '°C' };
    const asked: string[] = [];
    const t = new DeviceTable(
      'device',
      100,
      (source, topic) => (asked.push(`${source} ${topic}`), source === 'broker' && topic.startsWith('tele/') ? tasmota : undefined),
    );
    t.rows(0); // looked at: every reading is kept
    t.observe([reading('th1', { temperature: 21.5 })], 'broker', 1000, 'tele/th1/SENSOR');
    t.observe([reading('th1', { temperature: 22 })], 'broker', 2000, 'tele/th1/SENSOR');
    t.observe([reading('th2', { temperature: 19 })], 'broker', 2000, 'sensors/th2');
    expect(t.rows()).toEqual([
      { device: 'th1', source: 'broker', measurement: 'climate', lastSeenMs: 2000, readings: 2, fields: { temperature: 22 }, units: { temperature: '°C' } },
      { device: 'th2', source: 'broker', measurement: 'climate', lastSeenMs: 2000, readings: 1, fields: { temperature: 19 } },
    ]);
    expect(t.rows()[0]?.units).toBe(tasmota); // shared, not copied
    expect(asked).toEqual(['broker tele/th1/SENSOR', 'broker sensors/th2']); // not per reading
    t.observe([reading('th1', { temperature: 23 })], 'mqtt2', 3000, 'other/th1');
    expect(t.rows().find((r) => r.device === 'th1')?.units).toBeUndefined();
  });

  it('does not read a reading’s fields until the rows are asked for (a line protocol reading parses them on first use)', () => {
    const t = new DeviceTable();
    t.rows(0);
    let reads = 0;
    const lazy = (v: number): Reading => ({
      measurement: 'climate',
      tags: { device: 'th1' },
      get fields() {
        reads++;
        return { temperature: v };
      },
      time: 0n,
    });
    for (let i = 0; i < 100; i++) t.observe([lazy(i)], 'broker', 1000 + i, 'sensors/th1');
    expect(reads).toBe(0);
    expect(t.rows()[0]?.fields).toEqual({ temperature: 99 });
    expect(reads).toBe(1);
  });

  it('while nobody looks, replaces a device’s kept reading at most every keepEveryMs; while the rows are looked at, with every reading', () => {
    const t = new DeviceTable('device', 100, undefined, 5000);
    const at = (v: number, ms: number) => t.observe([reading('th1', { v })], 'broker', ms, 'sensors/th1');
    at(1, 1000); // the first is kept
    at(2, 2000);
    at(3, 6000); // 5 s after the one kept
    at(4, 7000);
    expect(t.rows(7500)).toEqual([{ device: 'th1', source: 'broker', measurement: 'climate', lastSeenMs: 7000, readings: 4, fields: { v: 3 } }]);
    at(5, 8000); // looked at 0.5 s ago: kept
    expect(t.rows(8100)[0]?.fields).toEqual({ v: 5 });
    at(6, 8100 + WATCHED_MS); // nobody looked for WATCHED_MS; the kept one is older than 5 s
    at(7, 8200 + WATCHED_MS);
    expect(t.rows(8300 + WATCHED_MS)[0]).toMatchObject({ fields: { v: 6 }, readings: 7, lastSeenMs: 8200 + WATCHED_MS });
  });

  it('a device status (availability) sets the state and leaves the values alone; a reading after offline clears it', () => {
    const t = new DeviceTable();
    t.observe([reading('plug', { power: 40 })], 'broker', 1000, 'tele/plug/SENSOR');
    t.observe([status('plug', 'offline')], 'broker', 5000, 'tele/plug/LWT');
    expect(t.rows()).toEqual([
      { device: 'plug', source: 'broker', measurement: 'climate', lastSeenMs: 1000, readings: 1, fields: { power: 40 }, availability: 'offline' },
    ]);
    t.observe([reading('plug', { power: 41 })], 'broker', 9000, 'tele/plug/SENSOR');
    expect(t.rows()[0]).toMatchObject({ fields: { power: 41 }, readings: 2 });
    expect(t.rows()[0]?.availability).toBeUndefined();
  });

  it('a device first heard of by its status is listed, with no values', () => {
    const t = new DeviceTable();
    t.observe([status('z1', 'offline')], 'broker', 1000, 'zigbee2mqtt/z1/availability');
    expect(t.rows()).toEqual([{ device: 'z1', source: 'broker', measurement: '', lastSeenMs: 1000, readings: 0, fields: {}, availability: 'offline' }]);
  });

  it('holds at most maxDevices, the least recently seen going first', () => {
    const t = new DeviceTable('device', 2);
    t.observe([reading('a', { v: 1 })], 's', 1000);
    t.observe([reading('b', { v: 1 })], 's', 2000);
    t.observe([reading('a', { v: 2 })], 's', 3000);
    t.observe([reading('c', { v: 1 })], 's', 4000);
    expect(
      t
        .rows()
        .map((r) => r.device)
        .sort(),
    ).toEqual(['a', 'c']);
  });
});
