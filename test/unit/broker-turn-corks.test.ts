import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TurnCorks } from '../../src/sources/broker/turn-corks.js';

// TurnCorks on a real loopback socket pair; the broker's PUBACKs through it are in
// test/integration/embedded-broker.test.ts ("… leave in one socket write").

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A connected pair on 127.0.0.1: `socket` is ours to write to; `received` collects what arrives. */
async function pair(): Promise<{ socket: Socket; received: Buffer[]; writes: () => number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const peer = createConnection({ host: '127.0.0.1', port });
  const socket = await accepted;
  const received: Buffer[] = [];
  peer.on('data', (b: Buffer) => received.push(b));
  cleanups.push(() => {
    socket.destroy();
    peer.destroy();
    server.close();
  });
  // Counts the writes the socket hands to the OS (one _write or one _writev each).
  let n = 0;
  const write = socket._write.bind(socket);
  const writev = socket._writev?.bind(socket);
  socket._write = (chunk, enc, cb) => (n++, write(chunk, enc, cb));
  if (writev) socket._writev = (chunks, cb) => (n++, writev(chunks, cb));
  return { socket, received, writes: () => n };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('TurnCorks', () => {
  it("a socket corked in a turn gets that turn's writes in one write, at the end of the turn", async () => {
    const { socket, writes } = await pair();
    const corks = new TurnCorks();
    corks.cork(socket);
    socket.write(Buffer.from([0x40]));
    corks.cork(socket); // a second ack in the same turn: still one cork
    socket.write(Buffer.from([0x02]));
    socket.write(Buffer.from([0x00, 0x07]));
    expect(writes()).toBe(0);
    await turn();
    expect(writes()).toBe(1);
    expect(socket.writableCorked).toBe(0);
  });

  it('release() uncorks at once and drops the pending uncork; a destroyed or missing socket is left alone', async () => {
    const { socket, writes } = await pair();
    const corks = new TurnCorks();
    corks.cork(socket);
    socket.write('ab');
    corks.release();
    expect(writes()).toBe(1);
    expect(socket.writableCorked).toBe(0);
    corks.cork(undefined);
    socket.destroy();
    corks.cork(socket);
    expect(socket.writableCorked).toBe(0);
    await turn();
  });
});
