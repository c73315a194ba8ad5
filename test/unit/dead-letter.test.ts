import { readFile, stat, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Counters } from '../../src/observe/counters.js';
import { DeadLetter, encodePayload } from '../../src/sink/dead-letter.js';
import { tempDir } from '../helpers/net.js';

let dir: { path: string; cleanup: () => Promise<void> };
let file: string;

beforeEach(async () => {
  dir = await tempDir('edgeflux-dl-');
  file = join(dir.path, 'sub', 'dead.jsonl');
});
afterEach(async () => {
  await dir.cleanup();
});

async function records(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('DeadLetter', () => {
  it('appends one JSON object per record, creating the directory', async () => {
    const counters = new Counters();
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20, counters, now: () => Date.UTC(2024, 0, 2, 3, 4, 5) });
    await dl.start();
    dl.record({ reason: 'invalid_json', sourceId: 'broker', topic: 'a/b', payload: Buffer.from('{"x":'), message: 'Unexpected end' });
    dl.record({ reason: 'bad_request', output: 'local', line: 'm v=1 1', message: 'HTTP 400: x', at: Date.UTC(2020, 0, 1) });
    await dl.stop();
    expect(await records(file)).toEqual([
      {
        at: '2024-01-02T03:04:05.000Z',
        reason: 'invalid_json',
        message: 'Unexpected end',
        source_id: 'broker',
        topic: 'a/b',
        payload: '{"x":',
        payload_bytes: 5,
      },
      { at: '2020-01-01T00:00:00.000Z', reason: 'bad_request', message: 'HTTP 400: x', output: 'local', line: 'm v=1 1' },
    ]);
    expect(dl.recorded).toBe(2);
    expect(counters.get('dead_letter_records', { reason: 'invalid_json' })).toBe(1);
    expect(counters.get('dead_letter_records', { reason: 'bad_request' })).toBe(1);
  });

  it('keeps a record with newlines and quotes on one line', async () => {
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20 });
    await dl.start();
    dl.record({ reason: 'x', message: 'line1\nline2 "q"', payload: 'a\nb' });
    await dl.stop();
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')).toHaveLength(2);
    expect((await records(file))[0]).toMatchObject({ message: 'line1\nline2 "q"', payload: 'a\nb' });
  });

  it('stores invalid UTF-8 as base64 with a flag', async () => {
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20 });
    await dl.start();
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    dl.record({ reason: 'invalid_utf8', message: 'bad', payload: bytes });
    await dl.stop();
    const [rec] = await records(file);
    expect(rec).toMatchObject({ payload_encoding: 'base64', payload_bytes: 4 });
    expect(Buffer.from(rec?.payload as string, 'base64')).toEqual(bytes);
  });

  it('truncates a large payload without splitting a character', () => {
    const text = 'é'.repeat(3000); // 6000 bytes
    const out = encodePayload(Buffer.from(text), 4095);
    expect(out.payload_truncated).toBe(true);
    expect(out.payload_bytes).toBe(6000);
    expect(out.payload).toBe('é'.repeat(2047)); // 4094 bytes: the 4095th would split a character
    const bin = encodePayload(Buffer.alloc(10_000, 0xff), 4096);
    expect(Buffer.from(bin.payload as string, 'base64')).toHaveLength(4096);
    expect(bin.payload_truncated).toBe(true);
    expect(encodePayload('short', 4096)).toEqual({ payload: 'short', payload_bytes: 5 });
  });

  it('truncates very long lines and says so', async () => {
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20, maxLineChars: 10 });
    await dl.start();
    dl.record({ reason: 'x', message: 'm', line: 'abcdefghijklmnop' });
    await dl.stop();
    expect((await records(file))[0]).toMatchObject({ line: 'abcdefghij', line_truncated: true });
  });

  it('rotates to <path>.1 before passing max_bytes, keeping one old file', async () => {
    const maxBytes = 1000;
    const dl = new DeadLetter({ path: file, maxBytes });
    await dl.start();
    const total = 200;
    for (let i = 0; i < total; i++) {
      dl.record({ reason: 'r', message: `record ${String(i).padStart(4, '0')}` });
      if (i % 7 === 0) await dl.flush(); // vary the write batches
    }
    await dl.stop();
    const files = (await readdir(join(dir.path, 'sub'))).sort();
    expect(files).toEqual(['dead.jsonl', 'dead.jsonl.1']);
    expect((await stat(file)).size).toBeLessThanOrEqual(maxBytes);
    expect((await stat(file + '.1')).size).toBeLessThanOrEqual(maxBytes);
    const kept = [...(await records(file + '.1')), ...(await records(file))];
    // Only the newest records survive, in order and without gaps.
    const last = kept.map((r) => Number(String(r.message).split(' ')[1]));
    expect(last[last.length - 1]).toBe(total - 1);
    expect(last).toEqual(last.map((_, i) => total - last.length + i));
    expect(dl.recorded).toBe(total);
  });

  it('appends to an existing file and counts its size towards the bound', async () => {
    await writeFile(join(dir.path, 'd.jsonl'), 'x'.repeat(900) + '\n');
    const path = join(dir.path, 'd.jsonl');
    const dl = new DeadLetter({ path, maxBytes: 1000 });
    await dl.start();
    dl.record({ reason: 'r', message: 'this record does not fit after 901 bytes' });
    await dl.stop();
    expect(await readFile(path + '.1', 'utf8')).toBe('x'.repeat(900) + '\n');
    expect(await records(path)).toHaveLength(1);
  });

  it('bounds the records waiting for the disk and counts the dropped ones', async () => {
    const counters = new Counters();
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20, maxPending: 10, counters });
    await dl.start();
    for (let i = 0; i < 100; i++) dl.record({ reason: 'r', message: String(i) }); // synchronously: no write can finish meanwhile
    await dl.stop();
    const written = await records(file);
    expect(written.length + dl.dropped).toBe(100);
    expect(written.length).toBeLessThanOrEqual(11);
    expect(dl.dropped).toBeGreaterThanOrEqual(89);
    expect(counters.get('dead_letter_dropped', { cause: 'queue_full' })).toBe(dl.dropped);
  });

  it('writes records taken before start once started; drops and counts records after stop', async () => {
    const counters = new Counters();
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20, counters });
    dl.record({ reason: 'early', message: 'before start' });
    await dl.start();
    await dl.flush();
    await dl.stop();
    dl.record({ reason: 'late', message: 'after stop' });
    expect((await records(file)).map((r) => r.reason)).toEqual(['early']);
    expect(counters.get('dead_letter_dropped', { cause: 'stopped' })).toBe(1);
  });

  it('record() never throws', async () => {
    const dl = new DeadLetter({ path: file, maxBytes: 1 << 20 });
    await dl.start();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => dl.record({ reason: 'x', message: 'm', at: NaN })).not.toThrow();
    expect(() => dl.record({ reason: 'x', message: 'm', payload: cyclic as unknown as string })).not.toThrow();
    await dl.stop();
    expect(dl.dropped).toBe(2);
  });
});
