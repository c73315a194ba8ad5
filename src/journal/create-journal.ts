/**
 * The journal for the configured spool mode: FileJournal (`durable`, on disk) or
 * MemoryJournal (`memory`, a bounded RAM ring). Both keep the Journal contract.
 */
import type { SpoolConfig } from '../config/types.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import { FileJournal } from './file-journal.js';
import type { Journal } from './journal.js';
import { MemoryJournal } from './memory-journal.js';

export function createJournal(spool: SpoolConfig, logger: Logger, counters: Counters, onFatal?: (err: Error) => void): Journal {
  if (spool.mode === 'memory') return new MemoryJournal({ maxBytes: spool.max_bytes, policy: spool.policy, counters });
  return new FileJournal({
    dir: spool.dir,
    segmentBytes: spool.segment_bytes,
    maxBytes: spool.max_bytes,
    policy: spool.policy,
    sync: spool.sync,
    logger,
    counters,
    ...(onFatal && { onFatal }),
  });
}
