/**
 * `node --import tsx bench/status-page.ts [--rate 10000] [--seconds 30] [--devices 1000]`:
 * what one browser watching the status page costs edgeflux. The bench's own parts (private
 * mosquitto and influxd, the load generator, edgeflux from its CLI with the unit's node
 * flags); the load runs throughout, and the daemon's CPU and RSS are measured over windows
 * of equal length: without a page, with headless chromium showing the page (devices sorted
 * by last seen, a live tail on one device), and without again (to see the machine's drift).
 */
import { writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { transpile } from './lib/build.js';
import { edgefluxConfig, inspectEdgeflux, startEdgeflux, unitNodeFlags } from './lib/edgeflux.js';
import { LoadGenerator } from './lib/load.js';
import { cleanupAll, installCleanupHandlers, tempDir } from './lib/procs.js';
import { treeCpuUs, treeRssKb } from './lib/procstat.js';
import { startInfluxd, startMosquitto } from './lib/servers.js';
import { freePort } from './lib/net.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { rate: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '30' }, devices: { type: 'string', default: '1000' } },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const devices = Number(values.devices);
const log = (s: string) => process.stdout.write(`${s}\n`);
installCleanupHandlers(log);

/** CPU (µs per reading) and mean/max RSS (MB) of `pid` over `ms`, RSS sampled every 250 ms. */
async function measure(pid: number, ms: number): Promise<{ cpuUsPerReading: number; cpuPct: number; rssMeanMb: number; rssMaxMb: number }> {
  const cpu0 = treeCpuUs(pid);
  const rss: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    rss.push(treeRssKb(pid) / 1024);
    await new Promise((r) => setTimeout(r, 250));
  }
  const cpu = treeCpuUs(pid) - cpu0;
  const elapsed = Date.now() - t0;
  return {
    cpuUsPerReading: cpu / ((rate * elapsed) / 1000),
    cpuPct: (100 * cpu) / (elapsed * 1000),
    rssMeanMb: rss.reduce((a, b) => a + b, 0) / rss.length,
    rssMaxMb: Math.max(...rss),
  };
}

const fmt = (m: Awaited<ReturnType<typeof measure>>) =>
  `CPU ${m.cpuUsPerReading.toFixed(2)} µs/reading (${m.cpuPct.toFixed(1)} % of a core), RSS mean ${m.rssMeanMb.toFixed(1)} MB, max ${m.rssMaxMb.toFixed(1)} MB`;

try {
  const { runtime } = await transpile(ROOT);
  const [mosquitto, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  await influx.createDatabase('page');
  const setup = await inspectEdgeflux(runtime, 'durable');
  const dir = await tempDir('edgeflux-bench-page-');
  const httpPort = await freePort();
  const file = join(dir, 'edgeflux.yaml');
  await writeFile(file, edgefluxConfig({ setup, system: 'edgeflux', brokerUrl: mosquitto.url, influxUrl: influx.url, db: 'page', qos: 0, dir, httpPort }));
  const { proc } = await startEdgeflux(runtime, file, unitNodeFlags(ROOT));
  const gen = await LoadGenerator.start(runtime, mosquitto.port, 'page-load');
  const windowMs = seconds * 1000;
  const cycles = 2;
  const total = Math.ceil(rate * (seconds * (2 * cycles + 1) + 60));
  log(`edgeflux ${proc.pid}, ${rate} readings/s QoS 0 over ${devices} devices, windows of ${seconds} s; warming up 30 s`);
  const load = gen.publish({ system: 'edgeflux', run: 'page', devices, rate, count: total, qos: 0, tsBase: Date.now() * 1000 });
  await new Promise((r) => setTimeout(r, 30_000));
  const profile = await tempDir('edgeflux-bench-chromium-');
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // Windows without and with a page, alternating; each page window is compared with the
  // mean of the windows on either side (RSS still drifts up after the warm-up).
  const without = [await measure(proc.pid, windowMs)];
  log(`no page:       ${fmt(without[0]!)}`);
  const withPage: Awaited<ReturnType<typeof measure>>[] = [];
  for (let i = 0; i < cycles; i++) {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await page.fill('#tail-filter', 'd007');
    await page.locator('tr[data-device]').first().waitFor({ timeout: 10_000 });
    withPage.push(await measure(proc.pid, windowMs));
    log(`one page open: ${fmt(withPage[i]!)}  (${await page.locator('#dev-count').textContent()} devices listed)`);
    await page.close();
    without.push(await measure(proc.pid, windowMs));
    log(`no page:       ${fmt(without[i + 1]!)}`);
  }
  await browser.close();
  withPage.forEach((w, i) => {
    const cpu = (without[i]!.cpuUsPerReading + without[i + 1]!.cpuUsPerReading) / 2;
    const rss = (without[i]!.rssMeanMb + without[i + 1]!.rssMeanMb) / 2;
    log(
      `page window ${i + 1}: CPU ${(w.cpuUsPerReading - cpu).toFixed(2)} µs/reading (${((100 * (w.cpuUsPerReading - cpu)) / cpu).toFixed(1)} %), RSS ${(w.rssMeanMb - rss).toFixed(1)} MB against the windows on either side`,
    );
  });
  await load.catch(() => undefined);
  await gen.stop();
} finally {
  await cleanupAll();
}
