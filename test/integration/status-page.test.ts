import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPassword } from '../../src/util/passwords.js';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { influxdPerFile } from '../helpers/influxd.js';
import { tempDir, waitFor } from '../helpers/net.js';
import { publishAll, publisher, startDaemon } from '../helpers/daemon.js';

// The status page in a real browser (Debian's chromium, driven by playwright-core) against
// the real daemon, its embedded broker and a real influxd that goes away and comes back.
// SCREENSHOT=docs/status-page.png writes the page as it looks during the outage.

const fx = influxdPerFile();
let context: BrowserContext;
let profile: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  profile = await tempDir('edgeflux-chromium-');
  context = await chromium.launchPersistentContext(profile.path, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 900, height: 900 },
  });
}, 30_000);
afterAll(async () => {
  await context?.close();
  await profile?.cleanup();
});

/** The backlog bar of an output: percent of the backlog written. */
const barValue = (page: Page, output: string) => page.locator(`.bar[aria-label="${output} backlog written"]`).getAttribute('aria-valuenow').then(Number);

describe('status page in headless chromium', () => {
  it('shows a device with its value within 2 s, a bad message with its hint, an output outage with its reason, and the backlog draining', async () => {
    await fx.influx.createDatabase('page');
    const yaml = `
broker: { port: 0 }
rules:
  - { topic: "sensors/{location}/{device}/{measurement}", format: json }
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: page, batch: { max_age: 50ms }, retry: { initial: 100ms, max: 500ms }, timeout: 1s }
spool: { dir: ${join(fx.dir.path, 'spool')} }
dead_letter: { path: ${join(fx.dir.path, 'dead.jsonl')} }
service:
  http: { port: 0 }
  health: { output_down_after: 1s }
`;
    const { daemon } = await startDaemon(yaml, fx.dir.path);
    const page = await context.newPage();
    const mqtt = await publisher(daemon.brokerPort!);
    try {
      await page.goto(`${daemon.healthUrl!}/`);
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 10_000 });
      await page.locator('#health-text', { hasText: 'Healthy' }).waitFor({ timeout: 5_000 });

      // A device appears with its value within 2 s of its reading.
      const sent = Date.now();
      await publishAll(mqtt, [{ topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":21.5,"humidity":40}' }]);
      const row = page.locator('tr[data-device="th1"]');
      await row.locator('td.values', { hasText: 'temperature=21.5 humidity=40' }).waitFor({ timeout: 2_000 });
      expect(Date.now() - sent).toBeLessThan(2_000);
      expect(await row.locator('td').nth(1).textContent()).toBe('online');
      expect(await row.locator('td').nth(5).textContent()).toBe('broker');

      // A bad message shows in the list with its reason and the fix.
      await publishAll(mqtt, [{ topic: 'tele/plug1/STATE', payload: '{"POWER":"ON"}' }]);
      const bad = page.locator('#bad-list li', { hasText: 'tele/plug1/STATE' });
      await bad.waitFor({ timeout: 5_000 });
      expect(await bad.textContent()).toContain('no_rule');
      expect(await bad.textContent()).toContain('EFX_PAYLOAD_NO_RULE');
      expect(await bad.textContent()).toContain('add a rule for "tele/+/STATE" or an ignore: entry');

      // The output goes down: shown with its reason; /healthz's words on the page.
      await fx.influx.pause();
      await publishAll(
        mqtt,
        Array.from({ length: 300 }, (_, i) => ({ topic: 'sensors/kitchen/th1/climate', payload: JSON.stringify({ temperature: 20 + (i % 10) / 10 }) })),
      );
      const output = page.locator('.output', { hasText: 'local' });
      await output.locator('span.down', { hasText: 'down' }).waitFor({ timeout: 15_000 });
      expect(await output.textContent()).toMatch(/ECONNREFUSED|connect|refused/i);
      await page.locator('#health-text', { hasText: 'Unhealthy' }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#health-reasons').textContent()).toContain('output local unreachable');
      await waitFor(async () => (await barValue(page, 'local')) < 100, 10_000, 'a backlog on the bar');
      expect(await output.textContent()).toMatch(/behind the journal: \d+ messages/);
      // …and in seconds (the age of its oldest unwritten message), as the spool says too.
      await output
        .locator('div', { hasText: /behind the journal: \d+ messages \(\d+ s\)/ })
        .first()
        .waitFor({ timeout: 5_000 });
      expect(await page.locator('#spool-text').textContent()).toMatch(/oldest unwritten message: \d+ s/);
      if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });

      // It comes back: the bar fills as the backlog drains, and the output is up again.
      const during = await barValue(page, 'local');
      await fx.influx.resume();
      await waitFor(async () => (await barValue(page, 'local')) === 100, 30_000, 'the backlog written');
      expect(during).toBeLessThan(100);
      await output.locator('span.ok', { hasText: 'up' }).waitFor({ timeout: 10_000 });
      await waitFor(async () => (await fx.influx.count('page', 'climate')) >= 301, 20_000, 'every reading written');
    } finally {
      await mqtt.endAsync();
      await page.close();
      await daemon.stop();
    }
  }, 90_000);

  it('asks for a login (service.http.login: always, users_file); the session cookie is HttpOnly and SameSite=Strict; the tail follows one device', async () => {
    await writeFile(join(fx.dir.path, 'ui-users'), `ops:${await hashPassword('right-one')}\n`, { mode: 0o600 });
    const yaml = `
broker: { port: 0 }
rules:
  - { topic: "sensors/{location}/{device}/{measurement}", format: json }
devices: [{ profile: tasmota }]
outputs:
  - { id: local, type: influxdb_v1, url: "${fx.influx.url}", database: page, batch: { max_age: 50ms } }
spool: { dir: ${join(fx.dir.path, 'spool-login')} }
dead_letter: { path: ${join(fx.dir.path, 'dead-login.jsonl')} }
service:
  http: { port: 0, login: always, users_file: ./ui-users }
`;
    const { daemon } = await startDaemon(yaml, fx.dir.path);
    const page = await context.newPage();
    const mqtt = await publisher(daemon.brokerPort!);
    try {
      const base = daemon.healthUrl!;
      expect((await page.request.get(`${base}/events`, { maxRedirects: 0 })).status()).toBe(401);
      expect((await page.request.get(`${base}/healthz`)).status()).toBe(200); // monitors need no login
      await page.goto(`${base}/`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.fill('input[name=username]', 'ops');
      await page.fill('input[name=password]', 'wrong');
      await page.click('button[type=submit]');
      await page.waitForURL(/\/login\?failed=1$/, { timeout: 10_000 });
      await page.locator('#failed', { hasText: 'wrong user name or password' }).waitFor({ state: 'visible', timeout: 2_000 });
      await page.fill('input[name=username]', 'ops');
      await page.fill('input[name=password]', 'right-one');
      await page.click('button[type=submit]');
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 10_000 });
      const [cookie] = await context.cookies(base);
      expect(cookie).toMatchObject({ name: 'edgeflux_session', httpOnly: true, sameSite: 'Strict' });

      // A profile's units on the values; a device whose last will said Offline shows offline.
      await publishAll(mqtt, [
        { topic: 'tele/plug9/SENSOR', payload: '{"AM2301":{"Temperature":21.5,"Humidity":40}}' },
        { topic: 'tele/plug9/LWT', payload: 'Offline' },
      ]);
      const plug = page.locator('tr[data-device="plug9"]');
      await plug.locator('td.values', { hasText: 'temperature=21.5 °C humidity=40 %' }).waitFor({ timeout: 3_000 });
      await plug.locator('td', { hasText: /^offline$/ }).waitFor({ timeout: 3_000 });

      await page.fill('#tail-filter', 'th2');
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 5_000 });
      await waitFor(
        async () => {
          await publishAll(mqtt, [
            { topic: 'sensors/cellar/th2/climate', payload: '{"temperature":11.5}' },
            { topic: 'sensors/kitchen/th1/climate', payload: '{"temperature":21.5}' },
          ]);
          return (await page.locator('#tail-lines').textContent())?.includes('th2');
        },
        10_000,
        'the tail shows th2',
        500,
      );
      const tail = (await page.locator('#tail-lines').textContent()) ?? '';
      expect(tail).toMatch(/^sensors\/cellar\/th2\/climate {2}climate,location=cellar,device=th2 temperature=11\.5$/m);
      expect(tail).not.toContain('th1');
    } finally {
      await mqtt.endAsync();
      await page.close();
      await daemon.stop();
    }
  }, 60_000);
});
