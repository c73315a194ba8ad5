/**
 * The journal's file writes and syncs, behind one small interface, so that a test can
 * swap in a layer that records every write and fsync and then cuts the power (keeps only
 * what was synced, plus a torn prefix of the rest). Reads and recovery use `node:fs`
 * directly: after a simulated cut they read the files as a restart would.
 */
import * as fs from 'node:fs';

export interface JournalFileIO {
  /** Opens (creating) a file for appending (O_APPEND); returns the descriptor. */
  openAppend(path: string): number;
  write(fd: number, buf: Buffer, offset: number, length: number): number;
  fdatasyncSync(fd: number): void;
  /** fdatasync off the event loop. */
  fdatasync(fd: number): Promise<void>;
  ftruncateSync(fd: number, length: number): void;
  close(fd: number): void;
  /** fsync of a directory (new and deleted segment names), off the event loop. */
  fsyncDir(dir: string): Promise<void>;
}

export const nodeFileIO: JournalFileIO = {
  openAppend: (path) => fs.openSync(path, 'a'),
  write: (fd, buf, offset, length) => fs.writeSync(fd, buf, offset, length),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  close: (fd) => fs.closeSync(fd),
  fsyncDir: async (dir) => {
    const h = await fs.promises.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  },
};
