/**
 * `node --import tsx bench/broker-login-wave.ts [--seconds 20] [--wave 100] [--every 1000]`
 *
 * A good client's connect + QoS 1 PUBACK, measured every 200 ms, while waves of `--wave`
 * wrong-password CONNECTs (raw MQTT, all at once) hit the embedded broker every `--every`
 * ms. The broker runs in its own process with the default scrypt cost (log2 N = 14) and
 * login defaults. Target: the good client's connect + PUBACK under 500 ms.
 * Prints the latencies without waves first, then during them, and the wave CONNACK codes.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { hashPassword } from '../src/util/passwords.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, wave: { type: 'string', default: '100' }, every: { type: 'string', default: '1000' } },
});
const seconds = Number(values.seconds);
const waveSize = Number(values.wave);
const everyMs = Number(values.every);
const here = dirname(fileURLToPath(import.meta.url));

const users = { sensor: await hashPassword('good'), victim: await hashPassword('secret') };
const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'lib/broker-child.ts'), JSON.stringify(users)], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve, reject) => {
  child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
  child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
});

/** connect + one QoS 1 publish + its PUBACK, in ms. */
async function goodClient(i: number): Promise<number> {
  const t0 = performance.now();
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `good-${i}`,
    username: 'sensor',
    password: 'good',
    reconnectPeriod: 0,
    connectTimeout: 30_000,
  });
  await c.publishAsync('sensors/good/t', '21.5', { qos: 1 });
  const ms = performance.now() - t0;
  await c.endAsync(true);
  return ms;
}

const codes = new Map<string, number>();
function wave(w: number): void {
  for (let i = 0; i < waveSize; i++) {
    const s = createConnection({ host: '127.0.0.1', port });
    s.on('error', () => {});
    s.setTimeout(20_000, () => s.destroy());
    const parser = mqttPacket.parser();
    parser.on('packet', (p) => {
      const key = p.cmd === 'connack' ? `connack ${(p as { returnCode?: number }).returnCode}` : p.cmd;
      codes.set(key, (codes.get(key) ?? 0) + 1);
      s.destroy();
    });
    s.on('data', (b: Buffer) => parser.parse(b));
    s.on('connect', () =>
      s.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId: `w${w}-${i}`,
          keepalive: 60,
          username: 'victim',
          password: Buffer.from(`guess-${w}-${i}`),
        }),
      ),
    );
  }
}

async function measure(label: string, durationMs: number, withWaves: boolean): Promise<void> {
  const lat: number[] = [];
  let w = 0;
  const timer = withWaves ? setInterval(() => wave(w++), everyMs) : undefined;
  if (withWaves) wave(w++);
  const end = Date.now() + durationMs;
  for (let i = 0; Date.now() < end; i++) {
    lat.push(await goodClient(i));
    await new Promise((r) => setTimeout(r, 200));
  }
  clearInterval(timer);
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
  console.log(
    `${label}: n=${lat.length} p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms${withWaves ? `, ${w} waves of ${waveSize}` : ''}`,
  );
}

try {
  await measure('no waves', 3000, false);
  await measure('during waves', seconds * 1000, true);
  await new Promise((r) => setTimeout(r, 1000));
  console.log('wave answers:', Object.fromEntries([...codes].sort()));
} finally {
  child.kill('SIGTERM');
}
