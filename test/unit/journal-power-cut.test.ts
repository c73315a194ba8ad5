import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileJournal } from '../../src/journal/file-journal.js';
import { nodeFileIO, type JournalFileIO } from '../../src/journal/file-io.js';
import type { JournalRecord } from '../../src/journal/journal.js';
import { silentLogger } from '../../src/observe/logger.js';
import { entry, fieldsOf } from '../fixtures/journal-entries.js';

// A power cut, simulated: the journal's writes go through a layer that records what each
// file holds and how much of it was fsynced. At the cut, each file keeps what was synced
// plus a random prefix of the rest (a torn tail); the journal is then opened from that.
// Every record appended more than `sync` + a margin before the cut must be there, and no
// record may read back different from what was appended.

const SYNC_MS = 100;
const MARGIN_MS = 10;

/** Real files; remembers per file the length fsynced. */
class RecordingIO implements JournalFileIO {
  readonly paths = new Map<number, string>();
  readonly synced = new Map<string, number>();
  openAppend(p: string): number {
    const fd = nodeFileIO.openAppend(p);
    this.paths.set(fd, p);
    if (!this.synced.has(p)) this.synced.set(p, 0);
    return fd;
  }
  write(fd: number, buf: Buffer, offset: number, length: number): number {
    return nodeFileIO.write(fd, buf, offset, length);
  }
  fdatasyncSync(fd: number): void {
    nodeFileIO.fdatasyncSync(fd);
    const p = this.paths.get(fd)!;
    this.synced.set(p, fs.fstatSync(fd).size);
  }
  fdatasync(fd: number): Promise<void> {
    this.fdatasyncSync(fd);
    return Promise.resolve();
  }
  ftruncateSync(fd: number, length: number): void {
    nodeFileIO.ftruncateSync(fd, length);
    const p = this.paths.get(fd)!;
    this.synced.set(p, Math.min(this.synced.get(p) ?? 0, length));
  }
  close(fd: number): void {
    nodeFileIO.close(fd);
  }
  fsyncDir(dir: string): Promise<void> {
    const fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    return Promise.resolve();
  }
  /** The power cut: every file is cut to what was synced plus `torn(unsynced)` bytes of the rest. */
  cut(torn: (unsynced: number) => number): void {
    for (const [p, synced] of this.synced) {
      if (!fs.existsSync(p)) continue; // deleted by retention
      const size = fs.statSync(p).size;
      fs.truncateSync(p, synced + torn(size - synced));
    }
  }
}

const dirs: string[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function readAll(j: FileJournal): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for (let from = 0; ;) {
    const batch = await j.read(from, 1000);
    if (batch.length === 0) return out;
    for (const r of batch) out.push(fieldsOf(r)!);
    from = batch[batch.length - 1]!.seq + 1;
  }
}

describe('FileJournal: power cut (sync 100 ms)', () => {
  it('keeps every record appended more than sync + margin before the cut, and reads no damaged record as good', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ n: fc.integer({ min: 1, max: 40 }), waitMs: fc.integer({ min: 0, max: 250 }) }), { minLength: 1, maxLength: 25 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        async (steps, tears) => {
          vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-cut-'));
          dirs.push(dir);
          const io = new RecordingIO();
          const j = new FileJournal({ dir, maxBytes: 1024 ** 3, segmentBytes: 4096, policy: 'drop-oldest', sync: SYNC_MS, logger: silentLogger(), io });
          await j.open();
          const appendedAt: number[] = [];
          let seq = 0;
          for (const step of steps) {
            for (let i = 0; i < step.n; i++) {
              expect(j.append(entry(seq))).toBe(seq);
              appendedAt.push(Date.now());
              seq++;
            }
            await vi.advanceTimersByTimeAsync(step.waitMs);
          }
          const cutAt = Date.now();
          let t = 0;
          io.cut((unsynced) => Math.floor(unsynced * (tears[t++ % tears.length] as number)));
          vi.useRealTimers();
          // The restart reads a copy of the files as the cut left them (the first journal,
          // never closed, still holds the cursor database's lock in this process).
          const after = `${dir}-after`;
          dirs.push(after);
          fs.cpSync(dir, after, { recursive: true });
          fs.rmSync(path.join(after, 'cursors', 'LOCK'), { force: true });
          await j.close();

          const again = new FileJournal({ dir: after, maxBytes: 1024 ** 3, segmentBytes: 4096, policy: 'drop-oldest', sync: SYNC_MS, logger: silentLogger() });
          await again.open();
          again.addConsumer('check');
          const got = await readAll(again);
          await again.close();
          // Nothing damaged read as good: every record read is exactly what was appended as that seq, in order.
          for (const r of got) expect(r).toEqual(fieldsOf({ seq: r.seq, ...entry(r.seq) }));
          const seqs = got.map((r) => r.seq);
          expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
          // Everything appended before cutAt - sync - margin survived, as an unbroken prefix.
          // After it, unsynced records may be lost with holes between them: unsynced writes
          // reach the disk in any order (a later segment's may survive an earlier one's), and
          // recovery keeps each intact record under its own seq.
          const mustHave = appendedAt.filter((at) => at <= cutAt - SYNC_MS - MARGIN_MS).length;
          expect(seqs.slice(0, mustHave)).toEqual(Array.from({ length: mustHave }, (_, i) => i));
        },
      ),
      { numRuns: 25 },
    );
  }, 300_000);
});
