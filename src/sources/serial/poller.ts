/**
 * Polls a request/reply sensor (Winsen MH-Z19B: `FF 01 86 00 00 00 00 00 79` → 9-byte
 * reply): writes the request at once and then every `interval`, and reports a reply not
 * seen within `timeout`. While a reply is awaited no further request is sent (a sensor
 * asked twice may answer twice, and one late reply must not be taken for the next).
 * `stop()` frees both timers.
 */
import type { PollConfig } from '../../config/schema-serial.js';

export class Poller {
  private interval: ReturnType<typeof setInterval> | undefined;
  private replyTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly request: Buffer;

  constructor(
    private readonly cfg: PollConfig,
    private readonly write: (request: Buffer) => void,
    private readonly onTimeout: () => void,
  ) {
    this.request = Buffer.from(cfg.request);
  }

  get running(): boolean {
    return this.interval !== undefined;
  }

  /** Whether a reply is awaited. */
  get awaiting(): boolean {
    return this.replyTimer !== undefined;
  }

  start(): void {
    if (this.interval !== undefined) return;
    this.interval = setInterval(() => this.tick(), this.cfg.interval);
    this.tick();
  }

  stop(): void {
    if (this.interval !== undefined) clearInterval(this.interval);
    this.interval = undefined;
    if (this.replyTimer !== undefined) clearTimeout(this.replyTimer);
    this.replyTimer = undefined;
  }

  /** A frame arrived: the awaited reply. */
  replied(): void {
    if (this.replyTimer !== undefined) clearTimeout(this.replyTimer);
    this.replyTimer = undefined;
  }

  private tick(): void {
    if (this.replyTimer !== undefined) return;
    this.replyTimer = setTimeout(() => {
      this.replyTimer = undefined;
      this.onTimeout();
    }, this.cfg.timeout);
    this.write(this.request);
  }
}
