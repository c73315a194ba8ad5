import { writeFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TIME_FLOOR_MS, checkClock, waitForClockSync } from '../../src/observe/clock-check.js';
import { tempDir } from '../helpers/net.js';

const NOW = () => Date.UTC(2026, 10, 1);

describe('checkClock', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => (dir = await tempDir('edgeflux-clock-')));
  afterEach(async () => dir.cleanup());

  /** A stand-in `timedatectl` that prints `answer` (or sleeps, to test the timeout). */
  async function fakeTimedatectl(script: string): Promise<string> {
    const p = join(dir.path, 'timedatectl');
    await writeFile(p, `#!/bin/sh\n${script}\n`);
    await chmod(p, 0o755);
    return p;
  }

  it('a time before the floor is unsynchronised, whatever else says', async () => {
    const flag = join(dir.path, 'synchronized');
    await writeFile(flag, '');
    const r = await checkClock({ now: () => Date.UTC(1970, 0, 1, 0, 5), syncFlagPath: flag, timedatectl: false });
    expect(r).toMatchObject({ state: 'unsynchronized', source: 'floor' });
    expect(r.detail).toMatch(/1970-01-01T00:05:00.000Z, before 2026-01-01/);
    expect(TIME_FLOOR_MS).toBe(Date.UTC(2026, 0, 1));
  });

  it("systemd-timesyncd's flag file means synchronised", async () => {
    const flag = join(dir.path, 'synchronized');
    await writeFile(flag, '');
    expect(await checkClock({ now: NOW, syncFlagPath: flag, timedatectl: false })).toMatchObject({ state: 'synchronized', source: 'timesyncd' });
  });

  it('otherwise asks timedatectl (NTPSynchronized yes/no)', async () => {
    const flag = join(dir.path, 'none', 'synchronized');
    const yes = await fakeTimedatectl('[ "$*" = "show -p NTPSynchronized --value" ] && echo yes');
    expect(await checkClock({ now: NOW, syncFlagPath: flag, timedatectl: yes })).toMatchObject({ state: 'synchronized', source: 'timedatectl' });
    const no = await fakeTimedatectl('echo no');
    expect(await checkClock({ now: NOW, syncFlagPath: flag, timedatectl: no })).toMatchObject({ state: 'unsynchronized', source: 'timedatectl' });
  });

  it('a timedatectl that hangs is given up after the timeout', async () => {
    const hang = await fakeTimedatectl('exec sleep 30');
    const t0 = Date.now();
    const r = await checkClock({ now: NOW, syncFlagPath: join(dir.path, 'x', 'synchronized'), timedatectl: hang, timeoutMs: 200 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.state).toBe('unknown');
  });

  it('timesyncd running but not synced yet (its directory without the flag) is unsynchronised; nothing at all is unknown', async () => {
    await mkdir(join(dir.path, 'timesync'));
    expect(await checkClock({ now: NOW, syncFlagPath: join(dir.path, 'timesync', 'synchronized'), timedatectl: false })).toMatchObject({
      state: 'unsynchronized',
      source: 'timesyncd',
    });
    expect(await checkClock({ now: NOW, syncFlagPath: join(dir.path, 'absent', 'synchronized'), timedatectl: join(dir.path, 'missing') })).toMatchObject({
      state: 'unknown',
      source: 'none',
    });
  });

  it('waitForClockSync returns once the flag appears, or when the wait is over', async () => {
    await mkdir(join(dir.path, 'timesync'));
    const flag = join(dir.path, 'timesync', 'synchronized');
    const waits: number[] = [];
    // The flag appears while it waits: after its second look.
    const onWait = (left: number) => {
      if (waits.push(left) === 2) writeFileSync(flag, '');
    };
    const r = await waitForClockSync({ now: NOW, syncFlagPath: flag, timedatectl: false, maxWaitMs: 10_000, pollMs: 20, onWait });
    expect(r.state).toBe('synchronized');
    expect(waits.length).toBe(2);
    const t0 = Date.now();
    const never = await waitForClockSync({ now: NOW, syncFlagPath: join(dir.path, 'timesync', 'never'), timedatectl: false, maxWaitMs: 100, pollMs: 20 });
    expect(never.state).toBe('unsynchronized');
    expect(Date.now() - t0).toBeLessThan(5000);
    const unknown = await waitForClockSync({ now: NOW, syncFlagPath: join(dir.path, 'none', 'x'), timedatectl: false, maxWaitMs: 60_000 });
    expect(unknown.state).toBe('unknown'); // nothing to wait for: returns at once
  });
});
