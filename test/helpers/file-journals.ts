import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';
import { FileJournal, type FileJournalOptions } from '../../src/journal/file-journal.js';
import { silentLogger } from '../../src/observe/logger.js';

/**
 * Temp dirs and file journals for one test file, closed and removed after each test:
 * `tmp()` makes a dir (named from `prefix`), `journal(dir)` opens a journal on it with 1 GiB
 * of quota, drop-oldest and a 50 ms sync unless `extra` says otherwise; `closed(j)` for one the
 * test closed itself.
 */
export function fileJournals(prefix: string) {
  const dirs: string[] = [];
  const open: FileJournal[] = [];
  afterEach(async () => {
    for (const j of open.splice(0)) await j.close();
    for (const d of dirs.splice(0)) await fs.promises.rm(d, { recursive: true, force: true });
  });
  return {
    tmp(): string {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    journal(dir: string, extra: Partial<FileJournalOptions> = {}): FileJournal {
      const j = new FileJournal({ dir, maxBytes: 1024 ** 3, policy: 'drop-oldest', sync: 50, logger: silentLogger(), ...extra });
      open.push(j);
      return j;
    },
    /** A journal the test closed itself: not closed again after the test. */
    closed(j: FileJournal): void {
      open.splice(open.indexOf(j), 1);
    },
  };
}
