import { createServer, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxDB } from '@influxdata/influxdb-client';
import { INFLUX_CLIENT_VERIFIED, sendBytes } from '../../src/sink/influx-transport.js';

// Pins the one reach past @influxdata/influxdb-client's types (src/sink/influx-transport.ts)
// to the version it was checked against: when the library moves, this fails and says what
// to re-check, instead of batches being sent as JSON or read after their buffer was reused.

const installed = (
  JSON.parse(readFileSync(new URL('../../node_modules/@influxdata/influxdb-client/package.json', import.meta.url), 'utf8')) as { version: string }
).version;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A local HTTP server that records each request's body and answers 204. */
async function recorder(): Promise<{ url: string; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  close = () => new Promise((r) => server.close(() => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

describe('influx-transport (the client reach, pinned)', () => {
  it(`is the version the reach was checked against (${INFLUX_CLIENT_VERIFIED}.x): re-check src/sink/influx-transport.ts before moving it`, () => {
    expect(installed.split('.').slice(0, 2).join('.')).toBe(INFLUX_CLIENT_VERIFIED);
  });

  it('sends a byte body as those bytes, copied before send() returns (the buffer may be reused at once)', async () => {
    const { url, bodies } = await recorder();
    const transport = new InfluxDB({ url, timeout: 5000 }).transport;
    const bytes = Buffer.from('m,t=ä v=1.5 1\nm v=2 2');
    const sent = Buffer.from(bytes);
    await new Promise<void>((resolve, reject) => {
      sendBytes(
        transport,
        '/write?db=x',
        bytes,
        { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' } },
        { complete: () => resolve(), error: reject },
      );
      bytes.fill(0x21); // reused for the next batch while the request is still on its way
    });
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.equals(sent)).toBe(true);
  });

  it('sends a view into a larger buffer as the view only', async () => {
    const { url, bodies } = await recorder();
    const transport = new InfluxDB({ url, timeout: 5000 }).transport;
    const whole = Buffer.from('XXXXm v=1 1YYYY');
    await new Promise<void>((resolve, reject) => {
      sendBytes(transport, '/write?db=x', whole.subarray(4, 11), { method: 'POST' }, { complete: () => resolve(), error: reject });
    });
    expect(bodies[0]!.toString('utf8')).toBe('m v=1 1');
  });
});
