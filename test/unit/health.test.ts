import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthFacts, type HealthThresholds } from '../../src/observe/health.js';

const T: HealthThresholds = { noDataAfterMs: 300_000, outputDownAfterMs: 60_000, spoolNearQuota: 0.9 };
const START = Date.UTC(2026, 5, 1, 12, 0, 0);
const facts = (f: Partial<HealthFacts>): HealthFacts => ({ startedAt: START, lastMessageAt: START, outputs: [], ...f });

describe('evaluateHealth', () => {
  it('is ok with outputs up, data flowing and room in the spool', () => {
    const r = evaluateHealth(facts({ outputs: [{ id: 'local', state: 'up', lastSuccessAt: START }], spool: { bytes: 10, maxBytes: 100 } }), T, START + 1000);
    expect(r.status).toBe('ok');
    expect(r.reasons).toEqual([]);
    expect(r.spool).toEqual({ bytes: 10, max_bytes: 100, used: 0.1 });
    expect(r.outputs).toEqual([{ id: 'local', state: 'up', last_success: new Date(START).toISOString() }]);
  });

  it('an output down for less than output_down_after is tolerated, longer is not', () => {
    const f = facts({ outputs: [{ id: 'local', state: 'down', lastError: 'ECONNREFUSED', lastSuccessAt: START, downSince: START + 10_000 }] });
    expect(evaluateHealth(f, T, START + 69_999).status).toBe('ok');
    const r = evaluateHealth(f, T, START + 70_000);
    expect(r.status).toBe('unhealthy');
    expect(r.reasons).toEqual([
      {
        check: 'output_unreachable',
        output: 'local',
        since: new Date(START + 10_000).toISOString(),
        message: 'output local unreachable for 60 s: ECONNREFUSED',
      },
    ]);
  });

  it('a failed source (waiting for its restart) is unhealthy, naming it; a disconnected one is only listed', () => {
    const sources = [
      { id: 'serial0', state: 'failed', failures: 2, lastError: 'parser bug', failedAt: START + 5000 },
      { id: 'mqtt', state: 'down', lastError: 'ECONNREFUSED' },
    ];
    const r = evaluateHealth(facts({ sources }), T, START + 6000);
    expect(r.status).toBe('unhealthy');
    expect(r.reasons).toEqual([
      {
        check: 'source_failed',
        source: 'serial0',
        since: new Date(START + 5000).toISOString(),
        message: 'source serial0 failed (2 times so far): parser bug; restarting it',
      },
    ]);
    expect(r.sources).toEqual([
      { id: 'serial0', state: 'failed', last_error: 'parser bug' },
      { id: 'mqtt', state: 'down', last_error: 'ECONNREFUSED' },
    ]);
  });

  it('a spool that refuses appends is unhealthy, saying why and what fixes it', () => {
    const disk = evaluateHealth(facts({ refusing: { reason: 'disk_full', since: START, dir: '/var/lib/edgeflux' } }), T, START + 1000);
    expect(disk.status).toBe('unhealthy');
    expect(disk.reasons).toEqual([
      {
        check: 'spool_refusing',
        since: new Date(START).toISOString(),
        message:
          'spool: not acknowledging messages (their senders keep them): the disk holding the spool (/var/lib/edgeflux) is full: free space on it (or lower spool.max_bytes below what is free); acknowledging resumes by itself',
      },
    ]);
    const ro = evaluateHealth(facts({ refusing: { reason: 'error', since: START, error: 'EROFS: read-only file system, write', dir: '/s' } }), T, START);
    expect(ro.reasons[0]?.message).toBe(
      'spool: not acknowledging messages (their senders keep them): appending to the journal (/s) fails: EROFS: read-only file system, write',
    );
  });

  it('without downSince, counts from the last success, else from start', () => {
    const r = evaluateHealth(facts({ outputs: [{ id: 'a', state: 'down' }] }), T, START + 60_000);
    expect(r.reasons[0]?.since).toBe(new Date(START).toISOString());
  });

  it('a degraded output (InfluxDB refuses the credentials) is unhealthy at once', () => {
    const r = evaluateHealth(facts({ outputs: [{ id: 'cloud', state: 'degraded', lastError: '401 unauthorized', downSince: START + 5 }] }), T, START + 10);
    expect(r.status).toBe('unhealthy');
    expect(r.reasons[0]?.message).toBe('output cloud refuses our writes: 401 unauthorized');
  });

  it('spool at the threshold fraction of its quota', () => {
    expect(evaluateHealth(facts({ spool: { bytes: 899, maxBytes: 1000 } }), T, START).status).toBe('ok');
    const r = evaluateHealth(facts({ spool: { bytes: 900, maxBytes: 1000 } }), T, START);
    expect(r.reasons).toEqual([{ check: 'spool_near_quota', message: 'journal at 90% of its quota (900 of 1000 bytes)' }]);
  });

  it('no data from any source for no_data_after, also when none ever came; 0 turns it off', () => {
    expect(evaluateHealth(facts({ lastMessageAt: START + 1 }), T, START + 300_000).status).toBe('ok');
    const r = evaluateHealth(facts({ lastMessageAt: START }), T, START + 600_000);
    expect(r.reasons).toEqual([{ check: 'no_data', since: new Date(START).toISOString(), message: 'no message from any source for 10 min' }]);
    const never = evaluateHealth(facts({ lastMessageAt: undefined }), T, START + 300_000);
    expect(never.reasons[0]?.message).toBe('no message from any source since start for 5 min');
    expect(evaluateHealth(facts({ lastMessageAt: undefined }), { ...T, noDataAfterMs: 0 }, START + 1e9).status).toBe('ok');
  });

  it('lists every reason at once', () => {
    const r = evaluateHealth(
      facts({
        lastMessageAt: undefined,
        outputs: [
          { id: 'a', state: 'down' },
          { id: 'b', state: 'degraded' },
          { id: 'c', state: 'up' },
        ],
        spool: { bytes: 95, maxBytes: 100 },
      }),
      T,
      START + 3_600_000,
    );
    expect(r.reasons.map((x) => `${x.check}:${x.output ?? ''}`)).toEqual(['output_unreachable:a', 'output_unreachable:b', 'spool_near_quota:', 'no_data:']);
    expect(r.uptime_s).toBe(3600);
  });
});
