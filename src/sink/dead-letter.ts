/**
 * The dead-letter file: everything edgeflux had to reject (undecodable messages, lines
 * InfluxDB refused), one JSON object per line, so nothing is dropped without a trace.
 *
 * Record fields: `at` (ISO time), `reason`, `message`, and when known `code`
 * (docs/troubleshooting.md), `output`,
 * `source_id`, `topic`, `line` (line protocol), `payload` (UTF-8 text, or base64 with
 * `payload_encoding: "base64"` when the bytes are not valid UTF-8), `payload_bytes`
 * (original size) and `payload_truncated` / `line_truncated`.
 *
 * Bounded twice: on disk the file rotates to `<path>.1` (one old file kept) before it
 * would pass `maxBytes`; in memory at most `maxPending` records wait for the disk —
 * beyond that a record is dropped and counted (`dead_letter_dropped{cause}`).
 * `record()` never blocks and never throws; writing happens in the background.
 */
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isUtf8 } from 'node:buffer';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import type { ErrorCode } from '../util/errors.js';

export interface DeadLetterEntry {
  readonly reason: string;
  readonly message: string;
  readonly code?: ErrorCode;
  readonly output?: string;
  readonly sourceId?: string;
  readonly topic?: string;
  readonly payload?: Buffer | string;
  readonly line?: string;
  /** ms since the epoch; default now. */
  readonly at?: number;
}

/** Where rejected data goes (the DeadLetter below, or a fake in tests). */
export interface DeadLetterSink {
  record(entry: DeadLetterEntry): void;
}

export interface DeadLetterOptions {
  readonly path: string;
  /** The file rotates before it would grow past this. */
  readonly maxBytes: number;
  readonly counters?: Counters;
  readonly logger?: Logger;
  /** Records waiting for the disk at most; default 1000. */
  readonly maxPending?: number;
  /** Payload bytes kept per record; default 4 KiB. */
  readonly maxPayloadBytes?: number;
  /** Line characters kept per record; default 64 KiB. */
  readonly maxLineChars?: number;
  readonly now?: () => number;
}

export class DeadLetter implements DeadLetterSink {
  private fh: FileHandle | undefined;
  private size = 0;
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  private state: 'new' | 'open' | 'stopped' = 'new';
  private recordedCount = 0;
  private droppedCount = 0;
  private lastErrorLog = -Infinity;

  constructor(private readonly opts: DeadLetterOptions) {}

  /** Records written to disk so far. */
  get recorded(): number {
    return this.recordedCount;
  }

  /** Records lost (queue full, disk error, or after stop). */
  get dropped(): number {
    return this.droppedCount;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    await mkdir(dirname(this.opts.path), { recursive: true });
    this.fh = await open(this.opts.path, 'a');
    this.size = (await this.fh.stat()).size;
    this.state = 'open';
    this.kick();
  }

  record(entry: DeadLetterEntry): void {
    try {
      if (this.state === 'stopped') return this.drop('stopped');
      if (this.pending.length >= (this.opts.maxPending ?? 1000)) return this.drop('queue_full');
      this.pending.push(this.serialize(entry));
      this.opts.counters?.inc('dead_letter_records', { reason: entry.reason });
      this.kick();
    } catch (err) {
      this.opts.logger?.error({ err }, 'dead-letter: cannot serialize a record');
      this.drop('invalid');
    }
  }

  /** Resolves when every record accepted so far has been written (or dropped). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes what is pending, then closes the file. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasOpen = this.state === 'open';
    this.state = 'stopped';
    if (wasOpen) {
      this.kick();
      await this.flush();
    }
    if (this.pending.length > 0) {
      const n = this.pending.length;
      this.pending = [];
      this.drop('stopped', n);
    }
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private drop(cause: string, n = 1): void {
    this.droppedCount += n;
    this.opts.counters?.inc('dead_letter_dropped', { cause }, n);
  }

  private serialize(e: DeadLetterEntry): string {
    const rec: Record<string, unknown> = {
      at: new Date(e.at ?? (this.opts.now ?? Date.now)()).toISOString(),
      reason: e.reason,
      message: e.message,
    };
    if (e.code !== undefined) rec.code = e.code;
    if (e.output !== undefined) rec.output = e.output;
    if (e.sourceId !== undefined) rec.source_id = e.sourceId;
    if (e.topic !== undefined) rec.topic = e.topic;
    if (e.line !== undefined) {
      const max = this.opts.maxLineChars ?? 65_536;
      rec.line = e.line.length > max ? e.line.slice(0, max) : e.line;
      if (e.line.length > max) rec.line_truncated = true;
    }
    if (e.payload !== undefined) Object.assign(rec, encodePayload(e.payload, this.opts.maxPayloadBytes ?? 4096));
    return JSON.stringify(rec) + '\n';
  }

  private kick(): void {
    if (this.writing || this.state === 'new' || !this.fh || this.pending.length === 0) return;
    this.writing = this.drain()
      .catch((err: unknown) => this.logError(err))
      .finally(() => {
        this.writing = undefined;
        if (this.pending.length > 0 && this.fh) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && this.fh) {
      const batch = this.pending;
      this.pending = [];
      let chunk = '';
      let chunkBytes = 0;
      let chunkRecords = 0;
      for (const rec of batch) {
        const bytes = Buffer.byteLength(rec);
        if (this.size + chunkBytes + bytes > this.opts.maxBytes && this.size + chunkBytes > 0) {
          if (chunkRecords > 0) await this.append(chunk, chunkBytes, chunkRecords);
          chunk = '';
          chunkBytes = 0;
          chunkRecords = 0;
          await this.rotate();
        }
        chunk += rec;
        chunkBytes += bytes;
        chunkRecords++;
      }
      if (chunkRecords > 0) await this.append(chunk, chunkBytes, chunkRecords);
    }
  }

  private async append(chunk: string, bytes: number, records: number): Promise<void> {
    if (!this.fh) return this.drop('write_error', records);
    try {
      await this.fh.write(chunk);
      this.size += bytes;
      this.recordedCount += records;
    } catch (err) {
      this.drop('write_error', records);
      this.logError(err);
    }
  }

  private async rotate(): Promise<void> {
    const old = this.fh;
    this.fh = undefined;
    try {
      await old?.close();
      await rename(this.opts.path, this.opts.path + '.1');
    } catch (err) {
      this.logError(err);
    }
    this.fh = await open(this.opts.path, 'a');
    this.size = (await stat(this.opts.path)).size;
  }

  private logError(err: unknown): void {
    const t = (this.opts.now ?? Date.now)();
    if (t - this.lastErrorLog < 60_000) return;
    this.lastErrorLog = t;
    this.opts.logger?.error({ err, path: this.opts.path }, 'dead-letter: cannot write the file');
  }
}

/** Payload as text when it is valid UTF-8, else base64; at most `max` bytes kept. */
export function encodePayload(payload: Buffer | string, max: number): Record<string, unknown> {
  const buf = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out: Record<string, unknown> = { payload_bytes: buf.length };
  const utf8 = typeof payload === 'string' || isUtf8(buf);
  let cut = Math.min(buf.length, max);
  if (utf8) {
    // Do not split a multi-byte character: back off over continuation bytes (10xxxxxx).
    while (cut < buf.length && cut > 0 && ((buf[cut] as number) & 0xc0) === 0x80) cut--;
    out.payload = buf.toString('utf8', 0, cut);
  } else {
    out.payload = buf.toString('base64', 0, cut);
    out.payload_encoding = 'base64';
  }
  if (cut < buf.length) out.payload_truncated = true;
  return out;
}
