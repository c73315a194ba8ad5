/**
 * The one-line STATUS= text systemd shows in `systemctl status edgeflux`, e.g.
 * "in 120.5 msg/s, out 120.3 points/s, backlog 0, outputs 2/2 up, devices 14 (1 stale)"
 * (backlog: messages the furthest-behind output has still to write).
 * Rates are over the time since the previous line.
 */
import { sumEntries, type CounterName } from './counters.js';
import type { Figures } from './metrics.js';

export function statusText(now: Figures, prev: Figures | undefined): string {
  const dt = prev ? (now.atMs - prev.atMs) / 1000 : now.uptimeSeconds;
  const rate = (name: CounterName) => {
    const d = sumEntries(now.counters, name) - (prev ? sumEntries(prev.counters, name) : 0);
    return dt > 0 ? (Math.max(0, d) / dt).toFixed(1) : '0.0';
  };
  const parts = [`in ${rate('messages_received')} msg/s`, `out ${rate('points_written')} points/s`];
  if (now.spool?.refusing) parts.unshift(`NOT ACKNOWLEDGING: spool ${now.spool.refusing}`);
  const backlog = now.outputs.reduce((n, o) => Math.max(n, o.backlog), 0) + (now.queueDepth ?? 0);
  parts.push(`backlog ${backlog}`);
  if (now.outputs.length > 0) parts.push(`outputs ${now.outputs.filter((o) => o.up).length}/${now.outputs.length} up`);
  if (now.devices.total > 0) parts.push(`devices ${now.devices.total}${now.devices.stale ? ` (${now.devices.stale} stale)` : ''}`);
  const failed = sumEntries(now.counters, 'messages_failed') - (prev ? sumEntries(prev.counters, 'messages_failed') : 0);
  if (failed > 0) parts.push(`${failed} bad messages`);
  return parts.join(', ');
}

/** `statusText` with the previous figures remembered between calls (what SdNotifier's `status` option wants). */
export function statusLine(figures: () => Figures): () => string {
  let prev: Figures | undefined;
  return () => {
    const now = figures();
    const text = statusText(now, prev);
    prev = now;
    return text;
  };
}
