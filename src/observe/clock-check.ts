/**
 * A Raspberry Pi has no real-time clock: it boots with the time fake-hwclock saved at the
 * last shutdown (or 1970) and jumps to the real time when NTP first synchronises.
 * Readings stamped with their arrival time before that jump land in the past.
 *
 * Detection at start (`checkClock`), first answer wins:
 * 1. the time is before `notBeforeMs` (a date this build cannot predate) → unsynchronised;
 * 2. /run/systemd/timesync/synchronized exists (systemd-timesyncd touches it at its first
 *    sync) → synchronised;
 * 3. `timedatectl show -p NTPSynchronized --value` (any NTP daemon: it reads the kernel's
 *    sync state; 2 s timeout) says yes/no;
 * 4. /run/systemd/timesync exists (timesyncd runs, has not synced yet) → unsynchronised;
 * 5. otherwise unknown (a container, a machine without systemd): nothing is said.
 *
 * Strategy for arrival timestamps (documented in docs/raspberry-pi.md, "Clock"):
 * - hold the start: with `clock.wait_for_sync` > 0 the daemon waits (at most that long)
 *   for the sync before it starts its sources, so nothing is stamped with a stale clock;
 *   MQTT brokers keep QoS 1 messages meanwhile (persistent sessions) and sensors retry;
 * - forward steps (the NTP sync): arrival stamps follow the wall clock at once (re-base);
 *   readings stamped before the step keep their earlier time — a warning names the step;
 * - backward steps: arrival stamps hold (src/clock.ts: never below the last one, 1 µs
 *   apart) until the wall clock passes the last stamp, so no point ever reuses the
 *   timestamp of another one of its series (which InfluxDB would overwrite);
 * - readings that carry their own time (json.time_key, line protocol) are never touched.
 * `ClockStepMonitor` reports each step (wall clock against the monotonic clock).
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import type { Logger } from './logger.js';
import { sleep } from '../util/sleeper.js';

/** No edgeflux build predates this (2026-01-01T00:00:00Z); raise it now and then. */
export const TIME_FLOOR_MS = Date.UTC(2026, 0, 1);

export type ClockState = 'synchronized' | 'unsynchronized' | 'unknown';

export interface ClockCheckResult {
  readonly state: ClockState;
  readonly source: 'floor' | 'timesyncd' | 'timedatectl' | 'none';
  readonly detail: string;
}

export interface ClockCheckOptions {
  readonly now?: () => number;
  readonly notBeforeMs?: number;
  readonly syncFlagPath?: string;
  /** The timedatectl binary, or false not to ask it. Default "timedatectl". */
  readonly timedatectl?: string | false;
  readonly timeoutMs?: number;
}

const SYNC_FLAG = '/run/systemd/timesync/synchronized';

export async function checkClock(opts: ClockCheckOptions = {}): Promise<ClockCheckResult> {
  const now = (opts.now ?? Date.now)();
  const floor = opts.notBeforeMs ?? TIME_FLOOR_MS;
  if (now < floor) {
    return {
      state: 'unsynchronized',
      source: 'floor',
      detail: `the clock says ${new Date(now).toISOString()}, before ${new Date(floor).toISOString()} (no edgeflux build is older)`,
    };
  }
  const flag = opts.syncFlagPath ?? SYNC_FLAG;
  if (await exists(flag)) return { state: 'synchronized', source: 'timesyncd', detail: `${flag} exists` };
  if (opts.timedatectl !== false) {
    const answer = await run(opts.timedatectl ?? 'timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], opts.timeoutMs ?? 2000);
    if (answer === 'yes') return { state: 'synchronized', source: 'timedatectl', detail: 'timedatectl: NTPSynchronized=yes' };
    if (answer === 'no') return { state: 'unsynchronized', source: 'timedatectl', detail: 'timedatectl: NTPSynchronized=no' };
  }
  const dir = flag.slice(0, flag.lastIndexOf('/'));
  if (dir && (await exists(dir))) return { state: 'unsynchronized', source: 'timesyncd', detail: `systemd-timesyncd has not synchronised yet (no ${flag})` };
  return { state: 'unknown', source: 'none', detail: 'no time synchronisation service found' };
}

/** Logs the check's result: a warning with what to do when unsynchronised, debug otherwise. */
export function logClockCheck(logger: Logger, r: ClockCheckResult): void {
  if (r.state !== 'unsynchronized') return void logger.debug({ clock: r.state, detail: r.detail }, `clock: ${r.state}`);
  logger.warn(
    { clock: r.state, detail: r.detail },
    'clock: not synchronised; readings without their own timestamp are stamped with this clock until it is ' +
      '(enable systemd-timesyncd or another NTP client, add an RTC, or set clock.wait_for_sync)',
  );
}

export interface WaitForSyncOptions extends ClockCheckOptions {
  readonly maxWaitMs: number;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  /** Called before each wait, e.g. to extend systemd's start timeout. */
  readonly onWait?: (leftMs: number) => void;
  /** Elapsed time source (ms). Default `performance.now()`: a clock step does not shorten the wait. */
  readonly monotonic?: () => number;
}

/** Polls `checkClock` until synchronised (or unknown: nothing to wait for), at most `maxWaitMs`. */
export async function waitForClockSync(opts: WaitForSyncOptions): Promise<ClockCheckResult> {
  const mono = opts.monotonic ?? (() => performance.now());
  const start = mono();
  for (;;) {
    const r = await checkClock(opts);
    const left = opts.maxWaitMs - (mono() - start);
    if (r.state !== 'unsynchronized' || left <= 0 || opts.signal?.aborted) return r;
    opts.onWait?.(left);
    await sleep(Math.min(opts.pollMs ?? 1000, left), opts.signal);
  }
}

export interface ClockStep {
  /** Positive: the wall clock jumped forward. */
  readonly stepMs: number;
  readonly atMs: number;
}

export interface ClockStepMonitorOptions {
  readonly logger: Logger;
  /** Smallest difference reported as a step. Default 2 s. */
  readonly thresholdMs?: number;
  readonly everyMs?: number;
  readonly onStep?: (step: ClockStep) => void;
  readonly wall?: () => number;
  readonly monotonic?: () => number;
}

/** Compares the wall clock with the monotonic clock every `everyMs` and reports steps. */
export class ClockStepMonitor {
  private timer: ReturnType<typeof setInterval> | undefined;
  private offset = 0;
  private stepCount = 0;

  constructor(private readonly opts: ClockStepMonitorOptions) {}

  get steps(): number {
    return this.stepCount;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.offset = this.wall() - this.mono();
    this.timer = setInterval(() => this.check(), this.opts.everyMs ?? 5000);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  check(): void {
    const offset = this.wall() - this.mono();
    const step = offset - this.offset;
    if (Math.abs(step) < (this.opts.thresholdMs ?? 2000)) return;
    this.offset = offset;
    this.stepCount++;
    const at = this.wall();
    const dir = step > 0 ? 'forward' : 'backward';
    const effect =
      step > 0
        ? 'arrival timestamps follow it; readings stamped before it kept the earlier time'
        : 'arrival timestamps hold (never repeat) until the clock passes the last one';
    this.opts.logger.warn({ step_ms: Math.round(step), now: new Date(at).toISOString() }, `clock: stepped ${dir} by ${fmtStep(Math.abs(step))}; ${effect}`);
    this.opts.onStep?.({ stepMs: step, atMs: at });
  }

  private wall(): number {
    return (this.opts.wall ?? Date.now)();
  }

  private mono(): number {
    return (this.opts.monotonic ?? (() => performance.now()))();
  }
}

function fmtStep(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 360_000) / 10} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The command's trimmed stdout, or undefined when it failed, timed out or is missing. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4096, encoding: 'utf8' }, (err, stdout) =>
      resolve(err ? undefined : stdout.trim()),
    );
  });
}
