/**
 * What the service layer (health, metrics, edgeflux_internal, the status page) reads from
 * the daemon: the facts of its running parts, looked up when asked (a reload replaces
 * them), and who may log in to the status page.
 */
import type { Config } from '../config/types.js';
import { readSecretFile } from '../config/secret-file.js';
import type { Journal } from '../journal/journal.js';
import type { Ingest } from '../ingest/ingest.js';
import type { Drain } from '../sink/drain.js';
import type { SourceSupervisor } from '../sources/supervisor.js';
import type { ServiceHost } from '../observe/service.js';
import type { RawMessage, Reading } from '../types.js';
import { parsePasswordFile, verifyPassword } from '../util/passwords.js';
import type { JournalStats } from '../journal/journal.js';
import type { SpoolConfig } from '../config/types.js';
import type { OutputStatus } from '../sink/output.js';

/** What the spool holds and how far each output is behind (for health, metrics, `spool status`). */
export interface SpoolStatus {
  readonly mode: SpoolConfig['mode'];
  readonly journal: JournalStats;
  /** Messages held unacknowledged because the journal refused them (policy block). */
  readonly holding: number;
  readonly outputs: readonly (OutputStatus & {
    readonly id: string;
    readonly cursor: number;
    readonly behind: number;
    /** Journaled messages not read yet by this output. */
    readonly unread: number;
    /** Points made and not written yet (partial batch, batches waiting or in flight). */
    readonly unwritten: number;
    /** The cursor as saved on disk (durable mode): where a start after a crash resumes; absent before the first save. */
    readonly saved?: number;
  })[];
}

/** The daemon's running parts, as the service host reads them (undefined before start). */
export interface DaemonParts {
  journal(): Journal | undefined;
  ingest(): Ingest | undefined;
  drains(): readonly Drain[];
  supervisors(): readonly SourceSupervisor[];
  startedAt(): number;
  lastMessageAt(): number | undefined;
  emitReadings(rs: Reading[]): void;
  spoolStatus(): SpoolStatus | undefined;
  unitsOf(m: Pick<RawMessage, 'sourceId' | 'topic'>): Readonly<Record<string, string>> | undefined;
}

export function serviceHost(parts: DaemonParts, config: Config): ServiceHost {
  const refusal = () => parts.ingest()?.refusal;
  const spool = () => {
    const journal = parts.journal();
    if (!journal) return undefined;
    const r = refusal();
    return {
      bytes: journal.stats().bytes,
      maxBytes: config.spool.max_bytes,
      ...(r && { refusing: r.reason === 'disk_full' ? 'disk full' : r.reason === 'quota' ? 'quota (policy block)' : 'journal error' }),
    };
  };
  const dir = config.spool.mode === 'durable' ? config.spool.dir : undefined;
  return {
    healthFacts: () => ({
      startedAt: parts.startedAt(),
      lastMessageAt: parts.lastMessageAt(),
      outputs: parts.drains().map((d) => {
        const s = d.output.status;
        return { id: d.id, state: s.state, lastError: s.lastError, lastSuccessAt: s.lastSuccessAt, downSince: s.downSince };
      }),
      spool: spool(),
      ...(refusal() && { refusing: { ...refusal()!, ...(dir !== undefined && { dir }) } }),
      sources: parts.supervisors().map((s) => s.state),
    }),
    outputs: () => parts.drains().map((d) => ({ id: d.id, up: d.output.status.state === 'up', backlog: d.lag.behind, replayLag: d.replayLag })),
    sources: () => parts.supervisors().map((s) => ({ id: s.id, up: s.state.state === 'up' })),
    spool,
    emitReadings: (rs) => parts.emitReadings(rs),
    spoolStatus: () => parts.spoolStatus(),
    statusUsers: () => statusUsers(config),
    fieldUnits: (sourceId, topic) => parts.unitsOf({ sourceId, topic }),
    receivedAt: async (seq) => {
      const [r] = (await parts.journal()?.read(seq, 1)) ?? [];
      return r === undefined ? undefined : Number(r.receivedAt / 1_000_000n);
    },
    statusFacts: () => {
      const s = parts.spoolStatus();
      return {
        outputs: (s?.outputs ?? []).map((o) => ({
          id: o.id,
          state: o.state,
          lastError: o.lastError,
          downSince: o.downSince,
          behind: o.behind,
          cursor: o.cursor,
        })),
        ...(s && { spool: { mode: s.mode, bytes: s.journal.bytes, maxBytes: config.spool.max_bytes, dropped: s.journal.dropped, holding: s.holding } }),
      };
    },
  };
}

/**
 * Who may log in to the status page: the users of `service.http.users_file`, else those of
 * the embedded broker (scrypt hashes from `edgeflux passwd`).
 */
async function statusUsers(config: Config): Promise<{ verify?: (username: string, password: string) => Promise<boolean>; why?: string }> {
  let users: readonly { username: string; password_hash: string }[] = config.broker?.users ?? [];
  const file = config.service.http.users_file;
  if (file !== undefined) {
    const r = await readSecretFile(file, { baseDir: '/', trimNewline: false });
    if (!r.ok) return { why: `service.http.users_file: ${r.error}` };
    const parsed = parsePasswordFile(r.value);
    if (parsed.errors.length > 0) return { why: `service.http.users_file: ${file}:${parsed.errors[0]?.line}: ${parsed.errors[0]?.message}` };
    users = parsed.entries.map((e) => ({ username: e.username, password_hash: e.hash }));
  }
  if (users.length === 0) return { why: 'set service.http.users_file, or give the embedded broker users' };
  const byName = new Map(users.map((u) => [u.username, u.password_hash]));
  return {
    verify: async (username, password) => {
      const hash = byName.get(username);
      return hash !== undefined && (await verifyPassword(password, hash));
    },
  };
}
