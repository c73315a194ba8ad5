import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileJournal } from '../../src/journal/file-journal.js';
import { silentLogger } from '../../src/observe/logger.js';
import { entry } from '../fixtures/journal-entries.js';

// An idle, clean journal arms no timer: the sync and the cursor save are scheduled by the
// writes and moves that need them, and entries marked `unsynced` (edgeflux's own points)
// need neither an fsync nor a cursor save of their own.

const dirs: string[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) await fs.promises.rm(d, { recursive: true, force: true });
});

/** Lets real I/O (fdatasync in the thread pool, LevelDB) finish: turns until `done()`, timers staying fake. */
async function io(done: () => boolean = () => vi.getTimerCount() === 0, turns = 500_000): Promise<void> {
  // Until done() has held for a while (an fsync or a LevelDB write may still be in flight after it first holds).
  for (let i = 0, held = 0; i < turns && held < 5000; i++) {
    held = done() ? held + 1 : 0;
    await new Promise((r) => setImmediate(r));
  }
}

describe('FileJournal when idle', () => {
  it('arms no timer when idle and clean; a write arms one sync, a commit one cursor save; own points arm neither', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-idle-'));
    dirs.push(dir);
    const j = new FileJournal({ dir, maxBytes: 1024 ** 3, policy: 'drop-oldest', sync: 100, cursorFlushMs: 200, logger: silentLogger() });
    await j.open();
    j.addConsumer('out'); // a new consumer is saved once
    await vi.advanceTimersByTimeAsync(200);
    await io();
    expect(vi.getTimerCount()).toBe(0);

    // edgeflux's own points: written, no sync scheduled, and the cursor moved past them is not saved.
    await io();
    for (let i = 0; i < 3; i++) expect(j.append({ ...entry(i), unsynced: true })).toBe(i);
    expect(vi.getTimerCount()).toBe(0);
    j.commit('out', 3);
    expect(vi.getTimerCount()).toBe(1); // the cursor save
    await vi.advanceTimersByTimeAsync(200);
    await io();
    expect(vi.getTimerCount()).toBe(0); // held back by the unsynced data: nothing to save, no retry loop
    await vi.advanceTimersByTimeAsync(10_000);
    expect(vi.getTimerCount()).toBe(0);

    // A reading: one sync 100 ms later; then the cursor held back is saved.
    expect(j.append(entry(3))).toBe(3);
    expect(vi.getTimerCount()).toBe(1);
    j.append(entry(4)); // the same sync covers it
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    await io(() => vi.getTimerCount() === 1);
    expect(vi.getTimerCount()).toBe(1); // data synced: the cursor save is due
    await vi.advanceTimersByTimeAsync(200);
    await io();
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
    await j.close();

    const again = new FileJournal({ dir, maxBytes: 1024 ** 3, policy: 'drop-oldest', sync: 100, logger: silentLogger() });
    await again.open();
    again.addConsumer('out');
    expect(again.cursor('out')).toBe(3); // saved once the data up to it was fsynced
    await again.close();
  });
});
