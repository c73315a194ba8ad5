/**
 * SerialSource on serialport's mock binding (`SerialPortMock.binding`: the separately
 * imported MockBinding is another instance) and vitest fake timers for backoff, watchdog
 * and polling. Real ptys: test/integration/serial-pty.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SerialPortMock } from 'serialport';
import { SerialPortStream } from '@serialport/stream';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { serialPortSchema, resolveSerialPort, type SerialPortSettings } from '../../src/config/schema-serial.js';
import { Counters } from '../../src/observe/counters.js';
import { systemClock } from '../../src/clock.js';
import { SerialSource } from '../../src/sources/serial/serial-source.js';
import type { RawMessage, SourceStatus } from '../../src/types.js';

/** The parts of the mock binding's port used here (@serialport/binding-mock has no types under NodeNext). */
interface MockPortBinding {
  readonly openOptions: { readonly path: string } & Record<string, unknown>;
  lastWrite: Buffer | null;
  emitData(data: Buffer): void;
  write(buffer: Buffer): Promise<void>;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SDS = hex('AA C0 D4 04 3A 0A A1 60 1D AB');
const SDS_FRAMING = { type: 'frame', start: 'AA C0', length: 10, end: 'AB', checksum: { type: 'sum8', from: 2, to: 8, at: 8 } };

let pathNo = 0;
let source: SerialSource | undefined;

function settings(extra: Record<string, unknown> = {}): SerialPortSettings {
  const path = `/dev/mock-${++pathNo}`;
  const s = resolveSerialPort(serialPortSchema.parse({ id: 'sds', path, framing: SDS_FRAMING, ...extra }));
  if ('error' in s) throw new Error(s.error);
  return s;
}

function logCapture() {
  const lines: { level: number; msg: string }[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines };
}

function setup(s: SerialPortSettings, opts: { createPortFirst?: boolean } = {}) {
  if (opts.createPortFirst !== false) SerialPortMock.binding.createPort(s.path);
  const counters = new Counters();
  const ports: SerialPortStream[] = [];
  const log = logCapture();
  const src = new SerialSource({
    settings: s,
    logger: log.logger,
    counters,
    clock: systemClock(),
    random: () => 1,
    createPort: (o) => {
      const p = new SerialPortMock(o);
      ports.push(p);
      return p;
    },
  });
  source = src;
  const got: RawMessage[] = [];
  const statuses: SourceStatus[] = [];
  src.status$.subscribe((st) => statuses.push(st));
  const binding = () => ports[0]?.port as unknown as MockPortBinding | undefined;
  return { src, got, statuses, counters, ports, binding, log };
}

/** Lets the mock binding's nextTick/promise chains run (they are not on fake timers). */
async function ticks(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => process.nextTick(r));
}

beforeEach(() => {
  SerialPortMock.binding.reset();
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  vi.useRealTimers();
  SerialPortMock.binding.reset();
});

describe('SerialSource (mock binding)', () => {
  it('turns frames into RawMessages: topic and source id = port id, payload = frame bytes, arrival time', async () => {
    const t = setup(settings());
    t.src.messages().subscribe((m) => {
      t.got.push(m);
      m.ack();
    });
    const before = BigInt(Date.now()) * 1_000_000n;
    await t.src.start();
    expect(t.statuses.map((s) => s.state)).toEqual(['closed', 'connecting', 'up']);
    t.binding()?.emitData(Buffer.concat([hex('00 01'), SDS, SDS.subarray(0, 4)]));
    await ticks();
    t.binding()?.emitData(SDS.subarray(4));
    await ticks();
    expect(t.got.map((m) => m.payload.toString('hex'))).toEqual(['0001', SDS.toString('hex'), SDS.toString('hex')]);
    expect(t.got.every((m) => m.topic === 'sds' && m.sourceId === 'sds')).toBe(true);
    expect(t.got[0]!.receivedAt).toBeGreaterThanOrEqual(before);
    expect(t.got[1]!.receivedAt).toBeGreaterThan(t.got[0]!.receivedAt);
    expect(t.counters.get('serial_frames', { port: 'sds' })).toBe(3);
    expect(t.counters.get('serial_resyncs', { port: 'sds' })).toBe(1);
    expect(t.counters.get('serial_junk_bytes', { port: 'sds' })).toBe(2);
    expect(t.log.lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual(['serial sds: open (9600 baud)']);
  });

  it('opens with the configured line settings, exclusively', async () => {
    const t = setup(settings({ baud_rate: 115200, parity: 'even', stop_bits: 2, data_bits: 7 }));
    await t.src.start();
    expect(t.binding()?.openOptions).toMatchObject({ baudRate: 115200, parity: 'even', stopBits: 2, dataBits: 7, lock: true });
    // A second opener of the same path is refused while we hold it.
    const other = new SerialPortMock({ path: t.binding()!.openOptions.path, baudRate: 9600, autoOpen: false });
    const err = await new Promise<Error | null>((r) => other.open(r));
    expect(err?.message).toMatch(/locked/);
  });

  it('pauses the port while more than max_unacked frames wait for their ack, resumes after acks', async () => {
    const t = setup(settings({ max_unacked: 4 }));
    t.src.messages().subscribe((m) => t.got.push(m));
    await t.src.start();
    const port = t.ports[0]!;
    t.binding()?.emitData(Buffer.concat(Array.from({ length: 10 }, () => SDS)));
    await ticks();
    expect(t.got).toHaveLength(4);
    expect(t.src.isPaused).toBe(true);
    expect(port.isPaused()).toBe(true);
    expect(t.src.pendingAcks).toBe(4);
    t.got[0]!.ack();
    t.got[0]!.ack(); // twice: counted once
    expect(t.src.isPaused).toBe(true);
    t.got[1]!.ack();
    expect(t.src.isPaused).toBe(false); // half acked: resumed
    expect(port.isPaused()).toBe(false);
    await ticks();
    // Two more handed on (up to the bound again), then paused again.
    expect(t.got).toHaveLength(6);
    expect(t.src.isPaused).toBe(true);
    for (const m of t.got.slice(2)) m.ack();
    await ticks();
    for (const m of t.got.slice(6)) m.ack();
    await ticks();
    for (const m of t.got) m.ack();
    await ticks();
    expect(t.got).toHaveLength(10);
    expect(t.got.every((m) => m.payload.equals(SDS))).toBe(true);
  });

  it('holds frames unacknowledged while nobody subscribes, and hands them on later', async () => {
    const t = setup(settings({ max_unacked: 2 }));
    await t.src.start();
    t.binding()?.emitData(Buffer.concat([SDS, SDS, SDS]));
    await ticks();
    expect(t.src.isPaused).toBe(true);
    t.src.messages().subscribe((m) => {
      t.got.push(m);
      m.ack();
    });
    await ticks();
    expect(t.got).toHaveLength(3);
    expect(t.src.isPaused).toBe(false);
  });

  it('reopens the same port instance after a disconnect, with capped backoff, and resumes within 2 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const s = settings();
    const t = setup(s);
    t.src.messages().subscribe((m) => {
      t.got.push(m);
      m.ack();
    });
    await t.src.start();
    const port = t.ports[0]!;
    // Unplug: the binding reports the disconnect, and the device is gone.
    port._disconnected(new Error('device reports readiness to read but returned no data'));
    SerialPortMock.binding.reset();
    await ticks();
    expect(t.statuses.at(-1)).toMatchObject({ state: 'down', lastError: expect.stringContaining('disconnected') });
    // Several failed reopens while unplugged; delays double up to reconnect.max (1 s).
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      await ticks();
    }
    expect(t.counters.get('serial_reopens', { port: 'sds' })).toBeGreaterThanOrEqual(4);
    expect(t.statuses.at(-1)?.state).toBe('down');
    // Replug: the next attempt, at most reconnect.max later, opens it.
    SerialPortMock.binding.createPort(s.path);
    const replugAt = Date.now();
    while (t.statuses.at(-1)?.state !== 'up' && Date.now() - replugAt < 5000) {
      await vi.advanceTimersByTimeAsync(50);
      await ticks();
    }
    expect(t.statuses.at(-1)?.state).toBe('up');
    expect(Date.now() - replugAt).toBeLessThanOrEqual(2000);
    expect(t.ports).toHaveLength(1); // the same SerialPort instance
    (port.port as unknown as MockPortBinding).emitData(SDS);
    await ticks();
    expect(t.got.map((m) => m.payload.toString('hex'))).toEqual([SDS.toString('hex')]);
    // One warn for going down; failed reopen attempts only at debug.
    expect(t.log.lines.filter((l) => l.level === 40)).toHaveLength(1);
  });

  it('the watchdog reopens a silent port', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const t = setup(settings({ watchdog: '5s' }));
    t.src.messages().subscribe((m) => {
      t.got.push(m);
      m.ack();
    });
    await t.src.start();
    await vi.advanceTimersByTimeAsync(3000);
    t.binding()?.emitData(SDS);
    await ticks();
    await vi.advanceTimersByTimeAsync(4000); // 4 s since the last data: still fine
    await ticks();
    expect(t.statuses.at(-1)?.state).toBe('up');
    await vi.advanceTimersByTimeAsync(1100);
    await ticks();
    expect(t.statuses.some((s) => s.state === 'down' && /watchdog/.test(s.lastError ?? ''))).toBe(true);
    await vi.advanceTimersByTimeAsync(200);
    await ticks();
    expect(t.statuses.at(-1)?.state).toBe('up');
    expect(t.log.lines.some((l) => l.level === 40 && /no data for 5000 ms/.test(l.msg))).toBe(true);
  });

  it('polls: writes the request on open and every interval, counts replies that do not come', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const t = setup(
      settings({
        id: 'co2',
        framing: { type: 'frame', start: 'FF 86', length: 9, checksum: { type: 'neg_sum8', from: 1, to: 8, at: 8 } },
        poll: { request: 'FF 01 86 00 00 00 00 00 79', interval: '5s', timeout: '1s' },
      }),
    );
    const writes: string[] = [];
    t.src.messages().subscribe((m) => {
      t.got.push(m);
      m.ack();
    });
    await t.src.start();
    const b = t.binding()!;
    const origWrite = b.write.bind(b);
    b.write = async (buf: Buffer) => {
      writes.push(buf.toString('hex'));
      return origWrite(buf);
    };
    await ticks();
    expect(b.lastWrite?.toString('hex')).toBe('ff0186000000000079');
    b.emitData(hex('FF 86 02 60 47 00 00 00 D1')); // the reply
    await ticks();
    await vi.advanceTimersByTimeAsync(5000);
    await ticks();
    expect(writes).toEqual(['ff0186000000000079']);
    await vi.advanceTimersByTimeAsync(1000); // no reply this time
    await ticks();
    expect(t.counters.get('serial_poll_timeouts', { port: 'co2' })).toBe(1);
    expect(t.got.map((m) => m.payload.toString('hex'))).toEqual(['ff86026047000000d1']);
    await t.src.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an open that hangs times out and is retried; a late success is taken', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const s = settings({ open_timeout: '1s' });
    SerialPortMock.binding.createPort(s.path);
    const releases: (() => void)[] = [];
    const slow = {
      list: () => SerialPortMock.binding.list(),
      open: (o: Parameters<typeof SerialPortMock.binding.open>[0]) =>
        new Promise<Awaited<ReturnType<typeof SerialPortMock.binding.open>>>((resolve, reject) => {
          releases.push(() => void SerialPortMock.binding.open(o).then(resolve, reject));
        }),
    };
    const statuses: SourceStatus[] = [];
    const src = new SerialSource({
      settings: s,
      logger: pino({ level: 'silent' }),
      random: () => 1,
      createPort: (o) => new SerialPortStream({ ...o, binding: slow }),
    });
    source = src;
    src.status$.subscribe((st) => statuses.push(st));
    const started = src.start();
    await vi.advanceTimersByTimeAsync(1000);
    await started; // resolves after the timeout, not hanging
    expect(statuses.at(-1)).toMatchObject({ state: 'down', lastError: 'open timed out after 1000 ms' });
    // The retry finds the first open still pending and waits; then the open completes late.
    await vi.advanceTimersByTimeAsync(100);
    releases[0]?.();
    await ticks();
    expect(statuses.at(-1)?.state).toBe('up');
    expect(releases).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(statuses.at(-1)?.state).toBe('up');
  });

  it('start() resolves when the device is absent, and keeps trying', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const s = settings();
    const t = setup(s, { createPortFirst: false });
    await t.src.start();
    expect(t.statuses.at(-1)).toMatchObject({ state: 'down', lastError: expect.stringContaining('does not exist') });
    SerialPortMock.binding.createPort(s.path);
    await vi.advanceTimersByTimeAsync(150);
    await ticks();
    expect(t.statuses.at(-1)?.state).toBe('up');
  });

  it('stop() closes the port, completes the stream and frees every timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const t = setup(settings({ watchdog: '10s', framing: { type: 'inter_byte_timeout', interval: 50 } }));
    let completed = false;
    t.src.messages().subscribe({ next: (m) => m.ack(), complete: () => (completed = true) });
    await t.src.start();
    t.binding()?.emitData(Buffer.from('partial'));
    await ticks();
    const port = t.ports[0]!;
    const stopping = t.src.stop();
    await ticks();
    await stopping;
    expect(port.isOpen).toBe(false);
    expect(completed).toBe(true);
    expect(t.statuses.at(-1)?.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
  });
});
