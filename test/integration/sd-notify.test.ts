import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observe/logger.js';
import { SdNotifier } from '../../src/observe/sd-notify.js';
import { systemdNotifyCommand } from '../../src/observe/notify-transport.js';
import { waitFor } from '../helpers/net.js';
import { notifySocket, type NotifySocket } from '../helpers/notify-socket.js';

/** The messages that edgeflux sent (systemd-notify adds its own BARRIER=1 after each). */
const ours = (msgs: readonly string[]) => msgs.filter((m) => m !== 'BARRIER=1');
const firstLines = (msgs: readonly string[]) => ours(msgs).map((m) => m.split('\n')[0]);

describe('sd_notify through systemd-notify to a real unix datagram socket', () => {
  let sock: NotifySocket | undefined;
  let notifier: SdNotifier | undefined;
  afterEach(async () => {
    await notifier?.stop(1000);
    await sock?.close();
    notifier = sock = undefined;
  });

  for (const abstract of [false, true]) {
    it(`delivers READY, repeated WATCHDOG, RELOADING, READY, STOPPING in order (${abstract ? '@abstract name' : 'socket path'})`, async () => {
      sock = await notifySocket(abstract);
      let n = 0;
      notifier = new SdNotifier({
        logger: silentLogger(),
        env: { NOTIFY_SOCKET: sock.address, WATCHDOG_USEC: '300000', WATCHDOG_PID: String(process.pid) },
        status: () => `tick ${++n}`,
      });
      expect(notifier.watchdogPingMs).toBe(150);
      notifier.start();
      await notifier.ready('sources and outputs up');
      await sock.until((m) => firstLines(m).filter((l) => l === 'WATCHDOG=1').length >= 2, 15_000, 'two watchdog pings');
      await notifier.reloading('reloading');
      await notifier.ready('reloaded');
      await notifier.stopping('stopping');
      await notifier.stop();
      await sock.until((m) => ours(m).some((x) => x.startsWith('STOPPING=1')));

      // Lifecycle messages in call order; watchdog pings (which go on while stopping) in between.
      const seq = firstLines(sock.messages);
      expect(seq.filter((l) => l !== 'WATCHDOG=1')).toEqual(['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
      const between = seq.slice(1, seq.indexOf('RELOADING=1'));
      expect(between.length).toBeGreaterThanOrEqual(2);
      expect(new Set(between)).toEqual(new Set(['WATCHDOG=1']));
      const all = ours(sock.messages);
      expect(all[0]).toBe('READY=1\nSTATUS=sources and outputs up');
      const reload = all.find((m) => m.startsWith('RELOADING=1'))!;
      expect(reload).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading$/);
      expect(all.filter((m) => m.startsWith('WATCHDOG=1')).some((m) => /\nSTATUS=tick \d+/.test(m))).toBe(true);
      // systemd-notify waited for the receiver (its barrier) before the next message went out:
      // one barrier per message (the last one may still be on its way when STOPPING=1 is seen).
      await sock.until((m) => m.filter((x) => x === 'BARRIER=1').length >= all.length, 10_000, 'a barrier per message');
      expect(sock.messages.filter((m) => m === 'BARRIER=1').length).toBe(all.length);
    });
  }

  it('pings from the event loop: a blocked loop leaves a gap as long as the block', async () => {
    sock = await notifySocket();
    const arrivals: number[] = [];
    const transport = systemdNotifyCommand({ socket: sock.address });
    notifier = new SdNotifier({
      logger: silentLogger(),
      env: { NOTIFY_SOCKET: sock.address, WATCHDOG_USEC: '200000' },
      transport: () => ({
        send: async (m) => {
          await transport.send(m);
          arrivals.push(Date.now());
        },
      }),
    });
    notifier.start();
    await sock.until((m) => ours(m).length >= 2, 15_000, 'pings before the block');
    const blockedAt = Date.now();
    while (Date.now() - blockedAt < 600) {
      /* a handler that never yields */
    }
    await waitFor(() => arrivals.some((t) => t >= blockedAt + 600), 15_000, 'a ping after the block');
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] as number));
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(500);
  });

  it('a missing socket costs a warning, not an exception', async () => {
    const warnings: string[] = [];
    const logger = silentLogger();
    logger.warn = ((_o: unknown, msg?: string) => void warnings.push(String(msg))) as typeof logger.warn;
    notifier = new SdNotifier({ logger, env: { NOTIFY_SOCKET: '/nonexistent/edgeflux/notify.sock' } });
    notifier.start();
    await expect(notifier.ready()).resolves.toBeUndefined();
    expect(warnings.join('\n')).toMatch(/sending READY=1 failed: systemd-notify exited 1/);
  });
});
