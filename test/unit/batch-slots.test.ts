import { describe, expect, it } from 'vitest';
import { BatchSlots } from '../../src/sink/batch-slots.js';
import { LineWriter } from '../../src/sink/line-batch.js';
import type { Output, WriteOutcome } from '../../src/sink/output.js';

/** An output whose writes end when the test says, with the outcome it says. */
function scriptedOutput(): { output: Output; seen: string[][]; end: (outcome: WriteOutcome) => void } {
  const pending: ((o: WriteOutcome) => void)[] = [];
  const seen: string[][] = [];
  const output = {
    write(lines: Iterable<string>): Promise<WriteOutcome> {
      seen.push([...lines]);
      return new Promise((resolve) => pending.push(resolve));
    },
  } as unknown as Output;
  return { output, seen, end: (o) => pending.shift()?.(o) };
}

const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BatchSlots', () => {
  it('writes at most `concurrency` batches at once, oldest first, and keeps the lowest seq not written', async () => {
    const { output, seen, end } = scriptedOutput();
    const w = new LineWriter();
    let settled = 0;
    const slots = new BatchSlots(output, 1, () => settled++);
    for (const [i, seq] of [
      [1, 10],
      [2, 20],
    ] as const) {
      w.add(`m v=${i}i`);
      slots.push({ lines: w.take(), minSeq: seq });
    }
    expect(seen).toEqual([['m v=1i']]);
    expect([slots.waiting, slots.busy, slots.lowestSeq()]).toEqual([1, 2, 10]);
    end('settled');
    await flushed();
    expect(seen).toEqual([['m v=1i'], ['m v=2i']]);
    expect([settled, slots.lowestSeq()]).toEqual([1, 20]);
  });

  it('recycles a batch once its write settled, but keeps one that a halt cut short (its seq holds the cursor back)', async () => {
    const { output, end } = scriptedOutput();
    const w = new LineWriter();
    const slots = new BatchSlots(output, 2, () => undefined);
    w.add('m v=1i');
    const written = w.take();
    w.add('m v=2i');
    const cut = w.take();
    slots.push({ lines: written, minSeq: 1 });
    slots.push({ lines: cut, minSeq: 2 });
    end('settled');
    slots.halt();
    end('halted');
    await flushed();
    expect(() => written.text()).toThrow(/recycled/);
    expect(cut.text()).toBe('m v=2i');
    expect(slots.lowestSeq()).toBe(2);
  });
});
