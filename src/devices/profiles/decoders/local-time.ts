/**
 * Local date-times without an offset (Tasmota's `"Time":"2024-01-15T12:34:56"`) → UTC ns,
 * for a zone given as `UTC`, a fixed offset (`+01:00`, `-0530`) or an IANA name
 * (`Europe/Berlin`, through Intl, so daylight saving time is followed). A time that
 * carries its own offset (`…+01:00`, `…Z`) is taken as written. In the hour that a DST
 * change repeats, the earlier instant is chosen; in the hour it skips, the time is read
 * with the offset before the change.
 */
import { parseIsoNs } from '../../timestamps.js';

const OFFSET_RE = /^([-+])(\d{2}):?(\d{2})$/;
const HAS_OFFSET_RE = /[Tt ].*(?:[Zz]|[-+]\d{2}(?::?\d{2})?)$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

/** True when `zone` is `UTC`, a ±hh:mm offset or an IANA zone this Node knows. */
export function isValidZone(zone: string): boolean {
  if (zone === 'UTC' || OFFSET_RE.test(zone)) return true;
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's offset from UTC in ms at instant `utcMs`. */
export function zoneOffsetMs(zone: string, utcMs: number): number {
  if (zone === 'UTC') return 0;
  const m = OFFSET_RE.exec(zone);
  if (m !== null) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
  const parts: Record<string, number> = {};
  for (const p of formatterFor(zone).formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year as number, (parts.month as number) - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - (utcMs - (((utcMs % 1000) + 1000) % 1000));
}

/** A local ISO 8601 date-time in `zone` → ns since the epoch, or undefined when not a date-time. */
export function localTimeToNs(text: string, zone: string): bigint | undefined {
  const wall = parseIsoNs(text);
  if (wall === null) return undefined;
  if (HAS_OFFSET_RE.test(text)) return wall;
  const wallMs = Number(wall / 1_000_000n);
  // The zone's offsets a day either side of the wall time cover both sides of any change.
  const before = zoneOffsetMs(zone, wallMs - 86_400_000);
  const after = zoneOffsetMs(zone, wallMs + 86_400_000);
  const valid = [before, after].filter((o) => zoneOffsetMs(zone, wallMs - o) === o);
  // Repeated hour: both fit, keep the earlier instant (larger offset); skipped hour: none fits.
  const off = valid.length === 0 ? before : Math.max(...valid);
  return wall - BigInt(off) * 1_000_000n;
}
