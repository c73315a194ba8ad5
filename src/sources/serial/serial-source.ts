import { BehaviorSubject, type Observable } from '../../util/rx.js';
import { SerialPort } from 'serialport';
import type { SerialPortStream } from '@serialport/stream';
import type { SerialPortSettings } from '../../config/schema-serial.js';
import type { Logger } from '../../observe/logger.js';
import { Counters } from '../../observe/counters.js';
import { systemClock, type Clock } from '../../clock.js';
import type { RawMessage, SourceStatus } from '../../types.js';
import { MessageOutlet, RetryTimer, type Source } from '../source.js';
import { createFramer, frameBytes, type Framer } from './framing.js';
import { Poller } from './poller.js';
import { SilenceWatchdog } from './watchdog.js';
import { closePort, openSettings, type PortOpenSettings } from './port.js';

export interface SerialSourceOptions {
  readonly settings: SerialPortSettings;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Figures by port: serial_frames, serial_resyncs, serial_junk_bytes, serial_overflow_bytes, serial_poll_timeouts, serial_reopens. */
  readonly counters?: Counters;
  /** Makes the port (unit tests: `new SerialPortMock(o)`); default `new SerialPort(o)`. */
  readonly createPort?: (o: PortOpenSettings) => SerialPortStream;
  /** Random source in [0, 1) for the reopen jitter (tests). */
  readonly random?: () => number;
  /** How long `stop()` waits for the port to close; default 2 s. */
  readonly stopTimeoutMs?: number;
}

/**
 * One serial port (USB/UART), emitting each frame as a `RawMessage` whose topic and
 * source id are the port's id and whose payload is the frame's bytes.
 *
 * Framing per port (framing.ts). Flow control is the ack: once `max_unacked` frames wait
 * for their ack, the port and its framer are paused (`port.pause()`), and resumed when
 * half are acked. A serial line cannot hold data at the sender: while paused, bytes wait
 * in the stream's and the kernel's buffers, beyond which the UART drops them.
 *
 * Unplug/replug: a disconnect (`close` with `disconnected`), a failed or timed-out open,
 * or silence longer than `watchdog` (a disconnect is not always reported) closes the port
 * and reopens the SAME SerialPort instance with capped, jittered backoff (default 100 ms
 * to 1 s: a device that comes back resumes within about a second). Every open flushes the
 * input (serialport does TCIOFLUSH): what a device sent while the port was closed is gone.
 * `start()` resolves after the first open attempt, successful or not.
 *
 * Polled sensors (`poll`): the request is written on open and every interval; a reply
 * (any frame) not seen within `timeout` is counted. Status per port on `status$`, one log
 * line per state change (repeated failed reopens at debug).
 */
export class SerialSource implements Source {
  readonly id: string;
  private readonly cfg: SerialPortSettings;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly counters: Counters;
  private readonly labels: { readonly port: string };
  private readonly outlet: MessageOutlet;
  private readonly status = new BehaviorSubject<SourceStatus>({ state: 'closed' });
  private readonly retry: RetryTimer;
  private port: SerialPortStream | undefined;
  private framer: Framer | undefined;
  private poller: Poller | undefined;
  private running = false;
  /** Bumped by stop(): acks of messages from an earlier start() do not count. */
  private gen = 0;
  private unacked = 0;
  private paused = false;
  private readonly watchdog: SilenceWatchdog;
  private openTimer: ReturnType<typeof setTimeout> | undefined;
  private lastError: string | undefined;

  constructor(private readonly opts: SerialSourceOptions) {
    this.cfg = opts.settings;
    this.id = opts.settings.id;
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock();
    this.counters = opts.counters ?? new Counters();
    this.labels = { port: this.id };
    this.outlet = new MessageOutlet(this.id);
    this.retry = new RetryTimer(opts.settings.reconnect.initial, opts.settings.reconnect.max, opts.random);
    this.watchdog = new SilenceWatchdog(
      opts.settings.watchdog,
      () => this.clock.nowMs(),
      () => this.onSilent(),
    );
  }

  get status$(): Observable<SourceStatus> {
    return this.status.asObservable();
  }

  messages(): Observable<RawMessage> {
    return this.outlet.messages$;
  }

  /** Frames handed on and not yet acknowledged. */
  get pendingAcks(): number {
    return this.unacked;
  }

  /** Whether the port is paused for backpressure. */
  get isPaused(): boolean {
    return this.paused;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`serial ${this.id}: already started`);
    this.running = true;
    const c = this.cfg;
    const port = (this.opts.createPort ?? ((o) => new SerialPort(o)))(openSettings(c));
    this.port = port;
    this.retry.reset();
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => this.onClose(port, err));
    port.on('error', (err: Error) => {
      this.lastError = err.message;
      this.log.debug({ port: this.id, err: err.message }, `serial ${this.id}: ${err.message}`);
    });
    if (c.poll !== undefined) {
      this.poller = new Poller(
        c.poll,
        (req) => this.writeRequest(req),
        () => {
          this.counters.inc('serial_poll_timeouts', this.labels);
          this.log.debug({ port: this.id }, `serial ${this.id}: no reply within ${c.poll?.timeout} ms`);
        },
      );
    }
    await this.open(port);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.gen++;
    this.retry.cancel();
    this.poller?.stop();
    this.clearTimers();
    const port = this.port;
    this.port = undefined;
    if (port !== undefined) {
      if (port.isOpen) await closePort(port, this.opts.stopTimeoutMs ?? 2000);
      port.removeAllListeners();
      port.on('error', () => {}); // a late error (e.g. an open that completes after stop) must not throw
    }
    this.framer?.dispose();
    this.framer = undefined;
    this.outlet.complete();
    this.unacked = 0;
    this.paused = false;
    this.setStatus('closed');
  }

  /** One open attempt, bounded by open_timeout; on failure a reopen is scheduled. */
  private open(port: SerialPortStream): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running || port !== this.port) return resolve();
      if (port.isOpen) return resolve();
      if (port.opening) {
        this.scheduleReopen(port, 'an earlier open is still pending');
        return resolve();
      }
      this.setStatus('connecting');
      let settled = false;
      this.openTimer = setTimeout(() => {
        this.openTimer = undefined;
        settled = true;
        this.scheduleReopen(port, `open timed out after ${this.cfg.open_timeout} ms`);
        resolve();
      }, this.cfg.open_timeout);
      port.open((err) => {
        if (!this.running || port !== this.port) {
          if (err === null) port.close(() => {});
          return resolve();
        }
        if (err !== null) {
          if (settled) return; // timed out already; the retry is scheduled
          clearTimeout(this.openTimer);
          this.openTimer = undefined;
          this.scheduleReopen(port, err.message);
          return resolve();
        }
        clearTimeout(this.openTimer);
        this.openTimer = undefined;
        this.onOpen(); // also when late: the port is open now
        resolve();
      });
    });
  }

  private onOpen(): void {
    this.retry.cancel();
    this.retry.reset();
    this.lastError = undefined;
    this.framer?.dispose();
    const framer = createFramer(this.cfg.framing);
    this.framer = framer;
    framer.stream.on('data', (frame: unknown) => this.onFrame(frame));
    framer.stream.on('junk', (n: number) => {
      this.counters.inc('serial_resyncs', this.labels);
      this.counters.inc('serial_junk_bytes', this.labels, n);
    });
    framer.stream.on('error', (e: Error) => this.log.error({ port: this.id, err: e.message }, `serial ${this.id}: framing failed`));
    if (this.paused) framer.stream.pause();
    else this.watchdog.arm();
    this.setStatus('up');
    if (!this.paused) this.poller?.start();
  }

  private onData(chunk: Buffer): void {
    this.watchdog.touch();
    const cut = this.framer?.write(chunk) ?? 0;
    if (cut > 0) this.counters.inc('serial_overflow_bytes', this.labels, cut);
  }

  private onFrame(frame: unknown): void {
    const payload = frameBytes(frame);
    if (payload.length === 0) return; // empty lines
    this.counters.inc('serial_frames', this.labels);
    this.poller?.replied();
    this.unacked++;
    const gen = this.gen;
    let acked = false;
    this.outlet.push({
      sourceId: this.id,
      topic: this.id,
      payload,
      receivedAt: this.clock.arrivalNs(),
      ack: () => {
        if (acked || gen !== this.gen) return;
        acked = true;
        this.unacked--;
        if (this.paused && this.unacked <= this.cfg.max_unacked >> 1) this.resume();
      },
    });
    if (!this.paused && this.unacked >= this.cfg.max_unacked) this.pause();
  }

  private pause(): void {
    this.paused = true;
    this.port?.pause();
    this.framer?.stream.pause();
    this.poller?.stop();
    this.watchdog.disarm(); // silence while paused is ours, not the device's
    this.log.debug({ port: this.id, unacked: this.unacked }, `serial ${this.id}: paused (backpressure)`);
  }

  private resume(): void {
    this.paused = false;
    this.framer?.stream.resume();
    this.port?.resume();
    if (this.port?.isOpen) {
      this.watchdog.arm();
      this.poller?.start();
    }
    this.log.debug({ port: this.id, unacked: this.unacked }, `serial ${this.id}: resumed`);
  }

  private onClose(port: SerialPortStream, err: (Error & { disconnected?: boolean }) | null): void {
    if (!this.running || port !== this.port) return;
    this.poller?.stop();
    this.watchdog.disarm();
    const dropped = this.framer?.dispose() ?? 0;
    this.framer = undefined;
    if (dropped > 0) this.counters.inc('serial_junk_bytes', this.labels, dropped);
    const why = err?.disconnected ? `disconnected (${err.message})` : (this.lastError ?? err?.message ?? 'closed');
    this.scheduleReopen(port, why);
  }

  private scheduleReopen(port: SerialPortStream, why: string): void {
    this.lastError = why;
    const delay = this.retry.schedule(() => {
      this.counters.inc('serial_reopens', this.labels);
      void this.open(port);
    });
    this.setStatus('down', why, { retryInMs: delay, attempt: this.retry.attempts });
  }

  /** No data for `watchdog` ms: close; the close event schedules the reopen. */
  private onSilent(): void {
    const port = this.port;
    if (!this.running || this.paused || port === undefined || !port.isOpen) return;
    this.lastError = `no data for ${this.cfg.watchdog} ms (watchdog)`;
    this.log.warn({ port: this.id, path: this.cfg.path }, `serial ${this.id}: no data for ${this.cfg.watchdog} ms, reopening`);
    port.close(() => {});
  }

  private clearTimers(): void {
    this.watchdog.disarm();
    if (this.openTimer !== undefined) clearTimeout(this.openTimer);
    this.openTimer = undefined;
  }

  private writeRequest(req: Buffer): void {
    const port = this.port;
    if (port === undefined || !port.isOpen) return;
    port.write(req, (err) => {
      if (err) this.log.debug({ port: this.id, err: err.message }, `serial ${this.id}: poll request failed`);
    });
  }

  private setStatus(state: SourceStatus['state'], lastError?: string, extra?: Record<string, unknown>): void {
    const prev = this.status.value;
    if (prev.state === state && prev.lastError === lastError) return;
    this.status.next(lastError === undefined ? { state } : { state, lastError });
    const ctx = { port: this.id, path: this.cfg.path, ...extra, ...(lastError !== undefined && { err: lastError }) };
    if (state === 'up') this.log.info(ctx, `serial ${this.id}: open (${this.cfg.baud_rate} baud)`);
    else if (state === 'down') this.log[prev.state === 'up' || this.retry.attempts <= 1 ? 'warn' : 'debug'](ctx, `serial ${this.id}: ${lastError}, reopening`);
    else this.log[state === 'connecting' ? 'debug' : 'info'](ctx, `serial ${this.id}: ${state}`);
  }
}
