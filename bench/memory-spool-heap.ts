/**
 * V8 heap a memory-mode spool (MemoryJournal) takes per byte it counts against
 * `spool.max_bytes`: the figure behind src/journal/memory-budget.ts, which refuses to start a
 * daemon whose node heap limit cannot hold a full memory spool. No daemon, no test: the
 * journal is filled to its quota with records shaped as a source makes them (a topic string
 * of its own per message, a fresh arrival-time bigint, the payload from a larger buffer),
 * and the heap is measured after full collections, before and after.
 *
 *   node --expose-gc --import tsx bench/memory-spool-heap.ts [--mib 32]
 *
 * Prints, per message shape: records held, bytes counted, heap bytes per record and per
 * counted byte, and the payload copies outside the heap (Buffers: RSS, not the heap limit).
 */
import { parseArgs } from 'node:util';
import { MemoryJournal } from '../src/journal/memory-journal.js';
import { PAYLOADS } from './lib/workload.js';

interface Shape {
  readonly name: string;
  readonly topic: (i: number) => string;
  readonly payload: (i: number) => string;
}

const base = Date.now();
const SHAPES: readonly Shape[] = [
  { name: 'tiny: "1" on t/N (the worst case: the record around it dominates)', topic: (i) => `t/${i % 1000}`, payload: () => '1' },
  {
    name: 'point (bench default, 100 devices)',
    topic: (i) => PAYLOADS.point.topic('edgeflux', 'r1', `dev${i % 100}`),
    payload: (i) => PAYLOADS.point.payload(i, 100, base * 1000),
  },
  {
    name: 'flat JSON, 1,000 devices',
    topic: (i) => PAYLOADS.flat.topic('edgeflux', 'r1', `dev${i % 1000}`),
    payload: (i) => PAYLOADS.flat.payload(i, 1000, base),
  },
  { name: 'Tasmota SENSOR', topic: (i) => PAYLOADS.tasmota.topic('edgeflux', 'r1', `dev${i % 1000}`), payload: (i) => PAYLOADS.tasmota.payload(i, 1000, base) },
  { name: '1 KiB payload', topic: (i) => `site/dev${i % 1000}/blob`, payload: (i) => 'x'.repeat(1000) + String(i % 10).padStart(24, '0') },
];

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage();
}

async function measure(shape: Shape, quota: number): Promise<string> {
  const j = new MemoryJournal({ maxBytes: quota, policy: 'block' });
  await j.open();
  j.addConsumer('out'); // nothing committed: every record stays
  const before = settle();
  let n = 0;
  for (;;) {
    // As a source hands them over: a topic string of its own, a payload in a socket chunk.
    const topic = Buffer.from(shape.topic(n)).toString('latin1');
    const chunk = Buffer.from(`\x30\x00${topic}${shape.payload(n)}`);
    const payload = chunk.subarray(2 + topic.length);
    if (j.append({ sourceId: 'broker', topic, payload, receivedAt: BigInt(base) * 1_000_000n + BigInt(n) }) === 'full') break;
    n++;
  }
  const after = settle();
  const counted = j.stats().bytes;
  const heap = after.heapUsed - before.heapUsed;
  const outside = after.arrayBuffers - before.arrayBuffers;
  await j.close();
  return (
    `${shape.name}: ${n} records, ${(counted / 1048576).toFixed(1)} MiB counted (${(counted / n).toFixed(0)} B each); ` +
    `heap +${(heap / 1048576).toFixed(1)} MiB = ${(heap / n).toFixed(0)} B per record = ${(heap / counted).toFixed(2)} per counted byte; ` +
    `payload copies outside the heap +${(outside / 1048576).toFixed(1)} MiB`
  );
}

const { values } = parseArgs({ options: { mib: { type: 'string', default: '32' } } });
const quota = Number(values.mib) * 1048576;
process.stdout.write(`memory spool filled to ${values.mib} MiB (max_bytes), node ${process.version}\n`);
for (const s of SHAPES) process.stdout.write(`  ${await measure(s, quota)}\n`);
