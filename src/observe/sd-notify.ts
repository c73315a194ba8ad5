/**
 * The systemd notify protocol (sd_notify(3)) for `Type=notify` units: READY=1 once
 * sources and outputs are up, WATCHDOG=1 at half of WATCHDOG_USEC from an event-loop
 * timer (a blocked loop sends nothing and systemd restarts the process), STATUS= lines
 * with rates, RELOADING=1 (+ MONOTONIC_USEC) / READY=1 around a reload, STOPPING=1, and
 * EXTEND_TIMEOUT_USEC= for a long start. Silently off without NOTIFY_SOCKET.
 *
 * Messages are sent one at a time, in call order. A periodic tick (watchdog and status)
 * that is still waiting to be sent is replaced by the newer one, so a slow service
 * manager never makes the queue grow; lifecycle messages are never dropped.
 * The transport is in notify-transport.ts (why `systemd-notify` is used: see there).
 */
import type { Logger } from './logger.js';
import { RateLimiter } from '../util/rate-limit.js';
import { systemdNotifyCommand, type NotifyTransport } from './notify-transport.js';
import { settlesWithin } from '../util/timeout.js';

export interface SdNotifierOptions {
  readonly logger: Logger;
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Our PID, compared with WATCHDOG_PID. Default `process.pid`. */
  readonly pid?: number;
  /** Builds the transport for a socket. Default: `systemd-notify` (notify-transport.ts). */
  readonly transport?: (socket: string) => NotifyTransport;
  /** Text for STATUS= on every tick (e.g. rates); undefined or unchanged text is not sent. */
  readonly status?: () => string | undefined;
  /** Tick period when the watchdog is off, or its cap when on. Default 15 s. */
  readonly statusIntervalMs?: number;
  /** CLOCK_MONOTONIC in µs, for RELOADING's MONOTONIC_USEC. Default from `process.hrtime`. */
  readonly monotonicUsec?: () => bigint;
}

/** Parsed from the environment the service manager gave us. */
export interface NotifyEnvironment {
  readonly socket?: string;
  /** Period of WATCHDOG=1 pings (half of WATCHDOG_USEC), when the watchdog is ours. */
  readonly watchdogPingMs?: number;
  /** Why notification or the watchdog is off, when it is not simply absent. */
  readonly problem?: string;
}

/** Reads NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID as sd_notify(3) and sd_watchdog_enabled(3) do. */
export function parseNotifyEnvironment(env: NodeJS.ProcessEnv, pid: number): NotifyEnvironment {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return {};
  if (!/^[/@]/.test(socket) && !socket.startsWith('vsock:')) {
    return { problem: `NOTIFY_SOCKET="${socket}" is neither a path nor an @abstract name: notifications off` };
  }
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || usec === '') return { socket };
  if (!/^\d+$/.test(usec) || BigInt(usec) === 0n) return { socket, problem: `WATCHDOG_USEC="${usec}" is not a positive integer: watchdog off` };
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== '' && wpid !== String(pid)) return { socket };
  const half = Number(BigInt(usec) / 2000n);
  return { socket, watchdogPingMs: Math.max(1, Math.min(half, 2 ** 31 - 1)) };
}

const NOTIFY_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

/**
 * Moves NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID out of `env` (default `process.env`)
 * into the returned object, as sd_notify(3) does with `unset_environment`: the children
 * edgeflux starts (timedatectl, …) then cannot notify systemd in its name; only the
 * notifier, given the returned environment, does.
 */
export function takeNotifyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const taken: NodeJS.ProcessEnv = {};
  for (const k of NOTIFY_VARIABLES) {
    if (env[k] === undefined) continue;
    taken[k] = env[k];
    delete env[k];
  }
  return taken;
}

const MAX_QUEUE = 32;

interface Pending {
  text: string;
  readonly tick: boolean;
  readonly done: Array<() => void>;
}

export class SdNotifier {
  private readonly env: NotifyEnvironment;
  private readonly log: Logger;
  private readonly failLog = new RateLimiter(60_000);
  private transport: NotifyTransport | undefined;
  private readonly queue: Pending[] = [];
  private sending = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastStatus: string | undefined;
  private idleWaiters: Array<() => void> = [];
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(private readonly opts: SdNotifierOptions) {
    this.log = opts.logger;
    this.env = parseNotifyEnvironment(opts.env ?? process.env, opts.pid ?? process.pid);
  }

  /** Whether a service manager listens (NOTIFY_SOCKET set and usable). */
  get enabled(): boolean {
    return this.env.socket !== undefined;
  }

  /** The WATCHDOG=1 period in ms, when systemd's watchdog is on for this process. */
  get watchdogPingMs(): number | undefined {
    return this.env.watchdogPingMs;
  }

  /** Starts the periodic tick (WATCHDOG=1 and STATUS=). Nothing at all when notifications are off. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    if (this.env.problem) this.log.warn({ problem: this.env.problem }, `systemd notify: ${this.env.problem}`);
    if (!this.enabled) return;
    this.ensureTransport();
    const statusMs = this.opts.statusIntervalMs ?? 15_000;
    const every = this.env.watchdogPingMs === undefined ? statusMs : Math.min(this.env.watchdogPingMs, statusMs);
    if (this.env.watchdogPingMs !== undefined || this.opts.status) this.timer = setInterval(() => this.tick(), every);
    this.log.debug({ socket: this.env.socket, watchdog_ping_ms: this.env.watchdogPingMs, tick_ms: every }, 'systemd notify on');
  }

  /** READY=1: start-up (or a reload) is complete. */
  ready(status?: string): Promise<void> {
    return this.send(['READY=1', ...this.statusLine(status)]);
  }

  /** RELOADING=1 with MONOTONIC_USEC (as `Type=notify-reload` requires); follow with `ready()`. */
  reloading(status?: string): Promise<void> {
    const mono = this.opts.monotonicUsec?.() ?? process.hrtime.bigint() / 1000n;
    return this.send(['RELOADING=1', `MONOTONIC_USEC=${mono}`, ...this.statusLine(status)]);
  }

  /**
   * STOPPING=1: shutdown has begun. The tick ends here: systemd stops the watchdog when the
   * unit leaves the running state, so no WATCHDOG=1 follows (a slow flush sent some).
   */
  stopping(status?: string): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return this.send(['STOPPING=1', ...this.statusLine(status)]);
  }

  /** STATUS=text now. */
  status(text: string): Promise<void> {
    return this.send(this.statusLine(text));
  }

  /** EXTEND_TIMEOUT_USEC: asks for `ms` more before start/stop times out (long recovery, clock wait). */
  extendTimeout(ms: number): Promise<void> {
    return this.send([`EXTEND_TIMEOUT_USEC=${Math.max(0, Math.round(ms)) * 1000}`]);
  }

  /** Stops the tick and waits (at most `timeoutMs`) for queued messages, e.g. STOPPING=1. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.sending && this.queue.length === 0) return;
    await settlesWithin(new Promise<void>((r) => this.idleWaiters.push(r)), timeoutMs);
  }

  private tick(): void {
    const lines: string[] = [];
    if (this.env.watchdogPingMs !== undefined) lines.push('WATCHDOG=1');
    let text: string | undefined;
    try {
      text = this.opts.status?.();
    } catch (err) {
      this.log.warn({ err }, 'systemd notify: status text failed');
    }
    if (text !== undefined && text !== this.lastStatus) lines.push(...this.statusLine(text));
    if (lines.length > 0) void this.enqueue(lines.join('\n'), true);
  }

  private statusLine(text: string | undefined): string[] {
    if (text === undefined) return [];
    const clean = text.replace(/[\r\n]+/g, ' ').slice(0, 512);
    this.lastStatus = text;
    return [`STATUS=${clean}`];
  }

  private send(lines: string[]): Promise<void> {
    if (!this.enabled || this.state === 'stopped' || lines.length === 0) return Promise.resolve();
    return this.enqueue(lines.join('\n'), false);
  }

  /** Resolves once the message was sent or given up; never rejects. */
  private enqueue(text: string, tick: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      this.ensureTransport();
      const waiting = tick ? this.queue.find((p) => p.tick) : undefined;
      if (waiting) {
        // A newer tick replaces the one still waiting: keep its place, merge what it says.
        waiting.text = mergeTick(waiting.text, text);
        waiting.done.push(resolve);
        return;
      }
      if (this.queue.length >= MAX_QUEUE) {
        this.logFailure('queue_full', `systemd notify: ${MAX_QUEUE} messages waiting, dropping one`);
        resolve();
        return;
      }
      this.queue.push({ text, tick, done: [resolve] });
      void this.pump();
    });
  }

  private ensureTransport(): void {
    this.transport ??= (this.opts.transport ?? ((socket) => systemdNotifyCommand({ socket })))(this.env.socket as string);
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let p = this.queue.shift(); p !== undefined; p = this.queue.shift()) {
        try {
          await (this.transport as NotifyTransport).send(p.text);
        } catch (err) {
          this.logFailure('send', `systemd notify: sending ${p.text.split('\n')[0]} failed: ${String((err as Error).message ?? err)}`);
        }
        for (const d of p.done) d();
      }
    } finally {
      this.sending = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private logFailure(key: string, msg: string): void {
    const suppressed = this.failLog.take(key);
    if (suppressed >= 0) this.log.warn({ suppressed }, msg);
  }
}

/** Two tick messages in one: each key once, the newer value winning. */
function mergeTick(older: string, newer: string): string {
  const m = new Map<string, string>();
  for (const line of [...older.split('\n'), ...newer.split('\n')]) m.set(line.slice(0, line.indexOf('=')), line);
  return [...m.values()].join('\n');
}
