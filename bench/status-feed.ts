/**
 * `node --expose-gc --import tsx bench/status-feed.ts [--devices 10000]`: the status page's
 * own costs in process, apart from a loaded machine's noise: the device table's heap per
 * device (always on), the CPU of one snapshot for one view (paid once a second per open
 * page), and the hot-path cost of noting a reading.
 */
import { parseArgs } from 'node:util';
import { BadInputLog } from '../src/observe/bad-input.js';
import { Counters } from '../src/observe/counters.js';
import { DeviceTable } from '../src/observe/device-table.js';
import { StatusSnapshots, statusView } from '../src/observe/status-snapshot.js';
import { silentLogger } from '../src/observe/logger.js';
import type { Reading } from '../src/types.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '10000' } } });
const n = Number(values.devices);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heap = () => (gc(), gc(), process.memoryUsage().heapUsed);
const reading = (i: number): Reading => ({
  measurement: 'climate',
  tags: { device: `dev-${i}`, location: 'site' },
  fields: { temperature: 20 + (i % 10) / 10, humidity: 40 + (i % 7) },
  time: 0n,
});

const units = { temperature: '°C', humidity: '%' }; // one object per profile, shared by its devices
const table = new DeviceTable('device', 1_000_000, () => units);
const h0 = heap();
for (let i = 0; i < n; i++) table.observe([reading(i)], 'broker', Date.now(), `sensors/site/dev-${i}/climate`);
const h1 = heap();
process.stdout.write(
  `device table: ${n} devices, ${((h1 - h0) / n).toFixed(0)} bytes of heap per device (the entry, and the latest reading's fields object it keeps alive), ${((h1 - h0) / 1048576).toFixed(2)} MB in all\n`,
);
const batches = Array.from({ length: n }, (_, i) => [reading(i)]);
const topics = Array.from({ length: n }, (_, i) => `sensors/site/dev-${i}/climate`);

const t0 = process.cpuUsage();
const rounds = 2_000_000;
for (let i = 0; i < rounds; i++) table.observe(batches[i % n]!, 'broker', Date.now(), topics[i % n]);
const c0 = process.cpuUsage(t0);
process.stdout.write(`noting a reading: ${(((c0.user + c0.system) * 1000) / rounds).toFixed(0)} ns CPU\n`);

const counters = new Counters();
counters.inc('messages_received', { source: 'broker' }, 1000);
const snapshots = new StatusSnapshots({
  counters,
  devices: table,
  bad: new BadInputLog(),
  facts: () => ({ outputs: [{ id: 'local', state: 'up', behind: 0, cursor: 0 }] }),
  health: async () => ({ status: 'ok', time: '', uptime_s: 0, reasons: [], outputs: [] }),
  logger: silentLogger(),
});
const snapshot = snapshots.of.bind(snapshots);
const view = statusView(new URLSearchParams());
for (let i = 0; i < 20; i++) await snapshot(view);
const t1 = process.cpuUsage();
const snaps = 200;
let bytes = 0;
for (let i = 0; i < snaps; i++) bytes += JSON.stringify(await snapshot(view)).length;
const c1 = process.cpuUsage(t1);
process.stdout.write(
  `one snapshot (sorted page of 50 of ${n} devices): ${((c1.user + c1.system) / snaps / 1000).toFixed(2)} ms CPU, ${(bytes / snaps / 1024).toFixed(1)} KiB; once a second per open page = ${((c1.user + c1.system) / snaps / 10_000).toFixed(2)} % of a core\n`,
);
