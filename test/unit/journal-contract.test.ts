import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileJournal } from '../../src/journal/file-journal.js';
import type { Journal } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory-journal.js';
import { silentLogger } from '../../src/observe/logger.js';
import { journalContract, type ContractJournalOptions } from './journal-contract.js';

const dirs: string[] = [];
const dirOf = new WeakMap<Journal, string>();

function fileJournal(dir: string, opts: ContractJournalOptions): FileJournal {
  // Small segments: every test also crosses segment boundaries.
  const j = new FileJournal({ dir, ...opts, segmentBytes: 64 * 1024, sync: 50, logger: silentLogger() });
  dirOf.set(j, dir);
  return j;
}

journalContract(
  'FileJournal',
  (opts) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-journal-'));
    dirs.push(dir);
    return fileJournal(dir, opts);
  },
  {
    reopen: (closed, opts) => fileJournal(dirOf.get(closed)!, opts),
    cleanup: async () => {
      for (const d of dirs.splice(0)) await fs.promises.rm(d, { recursive: true, force: true });
    },
  },
);

journalContract('MemoryJournal', (opts) => new MemoryJournal(opts));
