/**
 * The one place edgeflux goes past `@influxdata/influxdb-client`'s typed API.
 *
 * Its `Transport.send(path, body: string, …)` is typed for text, but the Node transport
 * only does `Buffer.from(body, 'utf-8')` with it, which for a Buffer or Uint8Array is a
 * copy of the bytes. Handing the batch's bytes over as they are saves decoding a
 * 5000-line batch to a string and encoding it again (~3.5 ms of CPU per request), and
 * the copy is what lets the batcher reuse the batch's buffer as soon as the write has
 * settled (line-batch.ts). Both facts are checked against the installed version by
 * test/unit/influx-transport.test.ts, which fails loudly when the library changes.
 */
import type { CommunicationObserver, SendOptions, Transport } from '@influxdata/influxdb-client';

/** The client version whose transport was checked to copy a byte body (see the test). */
export const INFLUX_CLIENT_VERIFIED = '1.35';

/** Sends `bytes` as the request body; the transport copies them before `send` returns. */
export function sendBytes(
  transport: Transport,
  path: string,
  bytes: Uint8Array,
  options: SendOptions,
  callbacks: Partial<CommunicationObserver<Uint8Array>>,
): void {
  // The library's type says string; at run time it takes Buffer.from() of whatever it gets.
  transport.send(path, bytes as unknown as string, options, callbacks);
}
