/**
 * FileJournal micro-benchmark: appends/s with sync `always` and with a 100 ms interval,
 * bytes on disk per record, the replay read rate (oldest first, 5000 per read), and a
 * consumer tailing the head (100 appends, then one read, repeated).
 *
 *   node --import tsx bench/journal.ts [records]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileJournal } from '../src/journal/file-journal.js';
import type { JournalEntry } from '../src/journal/journal.js';
import { silentLogger } from '../src/observe/logger.js';

const N = Number(process.argv[2] ?? 500_000);
const ALWAYS_N = Math.min(N, 5_000);

function entries(n: number, payloadBytes: number): JournalEntry[] {
  const out: JournalEntry[] = [];
  const t0 = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < n; i++) {
    let json = `{"temperature":${(20 + (i % 100) / 10).toFixed(1)},"humidity":${40 + (i % 20)},"seq":${i}`;
    json += `,"pad":"${'x'.repeat(Math.max(0, payloadBytes - json.length - 10))}"}`;
    out.push({ sourceId: 'broker', topic: `sensors/kitchen/th${i % 50}/climate`, payload: Buffer.from(json), receivedAt: t0 + BigInt(i) * 1000n });
  }
  return out;
}

async function run(label: string, sync: 'always' | number, n: number, payloadBytes: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-bench-'));
  try {
    const j = new FileJournal({ dir, maxBytes: 8 * 1024 ** 3, policy: 'drop-oldest', sync, logger: silentLogger() });
    await j.open();
    const es = entries(n, payloadBytes);
    const t0 = process.hrtime.bigint();
    for (const e of es) j.append(e);
    const appendS = Number(process.hrtime.bigint() - t0) / 1e9;
    const bytes = j.stats().bytes;
    const t1 = process.hrtime.bigint();
    let seq = 0;
    let count = 0;
    for (;;) {
      const batch = await j.read(seq, 5000);
      if (batch.length === 0) break;
      count += batch.length;
      seq = batch[batch.length - 1]!.seq + 1;
    }
    const readS = Number(process.hrtime.bigint() - t1) / 1e9;
    await j.close();
    const payload = es[0]!.payload.length;
    console.log(
      `${label.padEnd(28)} ${String(n).padStart(8)} appends  ${fmt(n / appendS)} appends/s  ` +
        `${(bytes / n).toFixed(1)} B/record on disk (payload ${payload} B)  replay ${fmt(count / readS)} records/s`,
    );
    if (count !== n) throw new Error(`replayed ${count} of ${n}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US').padStart(10);
}

/** A consumer tailing the head: append 100, read them back after each notification. */
async function tail(n: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeflux-bench-'));
  try {
    const j = new FileJournal({ dir, maxBytes: 8 * 1024 ** 3, policy: 'drop-oldest', sync: 100, logger: silentLogger() });
    await j.open();
    const es = entries(10_000, 60);
    const t0 = process.hrtime.bigint();
    let from = 0;
    for (let i = 0; i < n;) {
      for (let k = 0; k < 100; k++, i++) j.append(es[i % es.length]!);
      const got = await j.read(from, 5000);
      from = got[got.length - 1]!.seq + 1;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    await j.close();
    if (from !== n) throw new Error(`tailed ${from} of ${n}`);
    console.log(`${'tail: append 100, read 100'.padEnd(28)} ${String(n).padStart(8)} records ${fmt(n / s)} records/s appended and read back`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await run('sync always, 100 B', 'always', ALWAYS_N, 100);
await run('sync 100 ms, 100 B', 100, N, 100);
await run('sync 100 ms, 60 B JSON', 100, N, 60);
await tail(Math.min(N, 200_000));
