/**
 * Whether edgeflux is healthy, from facts the daemon reports (`HealthSource`) and the
 * configured thresholds. Pure: the HTTP side is health-server.ts.
 * Unhealthy (HTTP 503) when any of:
 * - `output_unreachable`: an output is `down` (network, 5xx, 429) for longer than
 *   `outputDownAfterMs`, or `degraded` (InfluxDB refuses: credentials, missing database),
 *   which does not pass by itself;
 * - `spool_near_quota`: the journal holds at least `spoolNearQuota` of its quota (the
 *   next step is dropping the oldest data, or refusing new data);
 * - `no_data`: no message from any source for `noDataAfterMs` (counted from start too);
 * - `source_failed`: a source's message stream failed and it waits for its restart;
 * - `spool_refusing`: the journal refuses appends (disk full, quota under policy block,
 *   an I/O error), so messages are not acknowledged (their senders keep them).
 */

export interface OutputHealth {
  readonly id: string;
  readonly state: 'up' | 'down' | 'degraded';
  readonly lastError?: string;
  /** ms since the epoch. */
  readonly lastSuccessAt?: number;
  /** When the output went down (first failure after the last success); default lastSuccessAt ?? startedAt. */
  readonly downSince?: number;
}

export interface HealthFacts {
  /** When the daemon started (ms since the epoch). */
  readonly startedAt: number;
  /** When the last message arrived from any source (ms); undefined = none yet. */
  readonly lastMessageAt?: number;
  readonly outputs: readonly OutputHealth[];
  /** The journal; absent in memory mode. */
  readonly spool?: { readonly bytes: number; readonly maxBytes: number };
  /** Messages are held unacknowledged because the journal refuses them (see Refusal in ingest.ts). */
  readonly refusing?: { readonly reason: 'quota' | 'disk_full' | 'error'; readonly since: number; readonly error?: string; readonly dir?: string };
  readonly sources?: readonly {
    readonly id: string;
    readonly state: string;
    readonly lastError?: string;
    readonly failures?: number;
    readonly failedAt?: number;
  }[];
}

/** What the daemon implements for /healthz. May be async; it gets a bounded time. */
export interface HealthSource {
  healthFacts(): HealthFacts | Promise<HealthFacts>;
}

export interface HealthThresholds {
  /** 0 = never report no_data. */
  readonly noDataAfterMs: number;
  readonly outputDownAfterMs: number;
  /** Fraction of the spool quota, 0..1. */
  readonly spoolNearQuota: number;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = { noDataAfterMs: 5 * 60_000, outputDownAfterMs: 60_000, spoolNearQuota: 0.9 };

export type HealthCheck = 'output_unreachable' | 'spool_near_quota' | 'spool_refusing' | 'no_data' | 'source_failed' | 'health_unavailable';

export interface HealthReason {
  readonly check: HealthCheck;
  readonly message: string;
  readonly output?: string;
  readonly source?: string;
  /** ISO time the condition started, when known. */
  readonly since?: string;
}

export interface HealthReport {
  readonly status: 'ok' | 'unhealthy';
  readonly time: string;
  readonly uptime_s: number;
  readonly reasons: readonly HealthReason[];
  readonly outputs: readonly { readonly id: string; readonly state: string; readonly last_error?: string; readonly last_success?: string }[];
  readonly sources?: readonly { readonly id: string; readonly state: string; readonly last_error?: string }[];
  readonly spool?: { readonly bytes: number; readonly max_bytes: number; readonly used: number };
  readonly last_message?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const ago = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

export function evaluateHealth(f: HealthFacts, t: HealthThresholds, nowMs: number): HealthReport {
  const reasons: HealthReason[] = [];
  for (const o of f.outputs) {
    if (o.state === 'up') continue;
    const since = o.downSince ?? o.lastSuccessAt ?? f.startedAt;
    if (o.state === 'degraded' || nowMs - since >= t.outputDownAfterMs) {
      const why = o.lastError ? `: ${o.lastError}` : '';
      const what = o.state === 'degraded' ? 'refuses our writes' : `unreachable for ${ago(nowMs - since)}`;
      reasons.push({ check: 'output_unreachable', output: o.id, since: iso(since), message: `output ${o.id} ${what}${why}` });
    }
  }
  for (const s of f.sources ?? []) {
    if (s.state !== 'failed') continue;
    const why = s.lastError ? `: ${s.lastError}` : '';
    reasons.push({
      check: 'source_failed',
      source: s.id,
      ...(s.failedAt !== undefined && { since: iso(s.failedAt) }),
      message: `source ${s.id} failed (${s.failures ?? 1} times so far)${why}; restarting it`,
    });
  }
  if (f.refusing) reasons.push({ check: 'spool_refusing', since: iso(f.refusing.since), message: refusingMessage(f.refusing) });
  if (f.spool && f.spool.maxBytes > 0 && f.spool.bytes >= t.spoolNearQuota * f.spool.maxBytes) {
    const pct = Math.round((100 * f.spool.bytes) / f.spool.maxBytes);
    reasons.push({ check: 'spool_near_quota', message: `journal at ${pct}% of its quota (${f.spool.bytes} of ${f.spool.maxBytes} bytes)` });
  }
  if (t.noDataAfterMs > 0) {
    const last = f.lastMessageAt ?? f.startedAt;
    if (nowMs - last >= t.noDataAfterMs) {
      const what = f.lastMessageAt === undefined ? 'no message from any source since start' : 'no message from any source';
      reasons.push({ check: 'no_data', since: iso(last), message: `${what} for ${ago(nowMs - last)}` });
    }
  }
  return {
    status: reasons.length === 0 ? 'ok' : 'unhealthy',
    time: iso(nowMs),
    uptime_s: Math.max(0, Math.round((nowMs - f.startedAt) / 1000)),
    reasons,
    outputs: f.outputs.map((o) => ({
      id: o.id,
      state: o.state,
      ...(o.lastError !== undefined && { last_error: o.lastError }),
      ...(o.lastSuccessAt !== undefined && { last_success: iso(o.lastSuccessAt) }),
    })),
    ...(f.sources && { sources: f.sources.map((s) => ({ id: s.id, state: s.state, ...(s.lastError !== undefined && { last_error: s.lastError }) })) }),
    ...(f.spool && {
      spool: {
        bytes: f.spool.bytes,
        max_bytes: f.spool.maxBytes,
        used: f.spool.maxBytes > 0 ? Math.round((1000 * f.spool.bytes) / f.spool.maxBytes) / 1000 : 0,
      },
    }),
    ...(f.lastMessageAt !== undefined && { last_message: iso(f.lastMessageAt) }),
  };
}

/** Why nothing is acknowledged, and what fixes it. */
export function refusingMessage(r: NonNullable<HealthFacts['refusing']>): string {
  const where = r.dir ? ` (${r.dir})` : '';
  const why =
    r.reason === 'disk_full'
      ? `the disk holding the spool${where} is full: free space on it (or lower spool.max_bytes below what is free); acknowledging resumes by itself`
      : r.reason === 'quota'
        ? 'the journal is at spool.max_bytes (policy block) while an output is behind: it resumes as the outputs catch up (or raise spool.max_bytes)'
        : `appending to the journal${where} fails: ${r.error ?? 'unknown error'}`;
  return `spool: not acknowledging messages (their senders keep them): ${why}`;
}

/** The report when the daemon could not say (threw or timed out). */
export function unavailableReport(message: string, nowMs: number): HealthReport {
  return { status: 'unhealthy', time: iso(nowMs), uptime_s: 0, reasons: [{ check: 'health_unavailable', message }], outputs: [] };
}
