/**
 * The V8 flags edgeflux runs with (README, Performance) stand in three places: the systemd
 * unit's ExecStart, `npm start`, and the edgeflux command's shebang. They must agree, and
 * the bench must run edgeflux with them (it reads them from the unit), and with the unit's
 * environment.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitEnvironment, unitNodeFlags } from '../../bench/lib/edgeflux.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

describe('node flags', () => {
  it('the unit, npm start and the shebang give node the same flags, and the bench reads them from the unit', () => {
    const unit = /^ExecStart=\/usr\/bin\/node (.*?) ?\/opt\/edgeflux\/dist\/cli\/main\.js /m.exec(read('systemd/edgeflux.service'))?.[1];
    const start = /^node (.*?) ?dist\/cli\/main\.js /.exec((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start)?.[1];
    const shebang = /^#!\/usr\/bin\/env -S node (.*)$/m.exec(read('src/cli/main.ts').split('\n')[0] ?? '')?.[1];
    expect(unit).toBe('--max-semi-space-size=4 --v8-pool-size=2 --max-old-space-size=512');
    expect(start).toBe(unit);
    expect(shebang).toBe(unit);
    expect(unitNodeFlags(ROOT)).toEqual(['--max-semi-space-size=4', '--v8-pool-size=2', '--max-old-space-size=512']);
  });

  it("the bench takes the unit's uncommented Environment= assignments, quoted or not, several to a line", () => {
    expect(unitEnvironment(ROOT)).toEqual({ NODE_ENV: 'production' });
    const dir = mkdtempSync(join(tmpdir(), 'edgeflux-unit-'));
    try {
      mkdirSync(join(dir, 'systemd'));
      writeFileSync(
        join(dir, 'systemd', 'edgeflux.service'),
        '[Service]\nEnvironment=NODE_ENV=production\n#Environment=NODE_OPTIONS=--max-old-space-size=256\nEnvironment=MALLOC_ARENA_MAX=2 "GREETING=a b" UV_THREADPOOL_SIZE=2\n',
      );
      expect(unitEnvironment(dir)).toEqual({ NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', GREETING: 'a b', UV_THREADPOOL_SIZE: '2' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
