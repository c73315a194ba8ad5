/**
 * Every counter edgeflux keeps, declared once: its help text and label names. The
 * Prometheus name is `edgeflux_<name>_total`. `Counters` (counters.ts) accepts only these
 * names, each with exactly its labels: a wrong name, a missing label or an unknown one is
 * a compile error. `optional` labels are left out by some call sites; the series is then
 * exposed without them (operators' dashboards query these names and labels: keep them).
 */
interface CounterSpec {
  readonly help: string;
  readonly labels: readonly string[];
  readonly optional?: readonly string[];
}

export const COUNTER_TABLE = {
  messages_received: { help: 'Messages received, by source.', labels: ['source'] },
  messages_decoded: { help: 'Messages decoded into readings, by source.', labels: ['source'] },
  messages_failed: { help: 'Messages that could not be decoded, by source and reason.', labels: ['source', 'reason'] },
  messages_ignored: { help: 'Messages on a topic of the ignore: list (not readings), by source.', labels: ['source'] },
  readings_dropped: { help: 'Readings dropped before the outputs, by reason (and output, where one dropped them).', labels: ['reason'], optional: ['output'] },
  points_written: { help: 'Points InfluxDB accepted, by output.', labels: ['output'] },
  write_requests: { help: 'Write requests sent, by output.', labels: ['output'] },
  write_retries: { help: 'Write requests retried or split, by output and kind.', labels: ['output', 'kind'] },
  write_probes: { help: 'Pings (no data) sent to a down output to notice its return, by output.', labels: ['output'] },
  points_dropped: { help: 'Points given up, by output and reason.', labels: ['output', 'reason'] },
  messages_dropped: { help: 'Messages given up, by output and reason (journal quota; shutdown in memory mode).', labels: ['output', 'reason'] },
  source_failures: { help: 'Times a source failed and was restarted, by source.', labels: ['source'] },
  source_paused: {
    help: 'Times a source stopped reading until its connection took the acks it held (the broker was not reading them), by source.',
    labels: ['source'],
  },
  journal_append_errors: { help: 'Journal appends that failed (the message was held, not acknowledged).', labels: [] },
  journal_refused_appends: { help: 'Journal appends refused, by reason (quota under policy block, disk_full).', labels: ['reason'] },
  journal_dropped_records: {
    help: 'Journal records deleted at the quota before being read, by consumer (no label: before any output kept a cursor).',
    labels: [],
    optional: ['consumer'],
  },
  journal_damaged_records: { help: 'Damaged journal records found (and skipped) when the journal was opened.', labels: [] },
  journal_damaged_reads: { help: 'Journal records that failed their checksum when read (skipped).', labels: [] },
  dead_letter_records: { help: 'Records appended to the dead-letter file, by reason.', labels: ['reason'] },
  dead_letter_dropped: { help: 'Dead-letter records not kept, by cause.', labels: ['cause'] },
  broker_refused: { help: 'Connections or packets the embedded broker refused, by reason.', labels: ['reason'] },
  broker_queue_dropped: { help: "Messages the embedded broker dropped because a session's queue was full.", labels: [] },
  broker_reads_paused: {
    help: 'Times the embedded broker stopped reading a client because maxHeldPerClient (100) of its publishes were unacknowledged.',
    labels: [],
  },
  broker_state_errors: { help: 'Times the embedded broker failed to save its state, by what.', labels: ['what'] },
  broker_login_delayed: { help: 'Logins the embedded broker answered late after failed attempts.', labels: [] },
  clock_steps: { help: 'Steps of the system clock seen, by direction.', labels: ['direction'] },
  pipeline_rejected: {
    help: 'Readings a pipeline step rejected or limited, by output, step, reason and outcome.',
    labels: ['output', 'op', 'reason', 'outcome'],
  },
  serial_frames: { help: 'Frames read from a serial port.', labels: ['port'] },
  serial_resyncs: { help: "Times a serial port's framing was lost and found again.", labels: ['port'] },
  serial_junk_bytes: { help: 'Bytes skipped between frames on a serial port.', labels: ['port'] },
  serial_overflow_bytes: { help: 'Bytes cut from over-long frames on a serial port.', labels: ['port'] },
  serial_poll_timeouts: { help: 'Polls of a serial device that got no reply in time.', labels: ['port'] },
  serial_reopens: { help: 'Times a serial port was opened again after it went away.', labels: ['port'] },
  device_status: { help: 'Device status messages (online, offline…), by profile and state.', labels: ['profile', 'state'] },
} as const satisfies Record<string, CounterSpec>;

export type CounterName = keyof typeof COUNTER_TABLE;
type Spec<N extends CounterName> = (typeof COUNTER_TABLE)[N];
type RequiredLabel<N extends CounterName> = Spec<N>['labels'][number];
type OptionalLabel<N extends CounterName> = Spec<N> extends { readonly optional: readonly (infer O extends string)[] } ? O : never;

/** The labels counter `N` is counted with: each declared one, the optional ones maybe. */
export type CounterLabels<N extends CounterName> = [RequiredLabel<N> | OptionalLabel<N>] extends [never]
  ? Readonly<Record<string, never>>
  : { readonly [K in RequiredLabel<N>]: string } & { readonly [K in OptionalLabel<N>]?: string };

/** `(name, labels, by?)`; labels may be left out only where the counter requires none. */
export type CounterArgs<N extends CounterName> = [RequiredLabel<N>] extends [never]
  ? [labels?: CounterLabels<N>, by?: number]
  : [labels: CounterLabels<N>, by?: number];

/** Every label name of counter `name`, declared order, optional ones last. */
export function labelNames(name: CounterName): readonly string[] {
  const spec: CounterSpec = COUNTER_TABLE[name];
  return spec.optional ? [...spec.labels, ...spec.optional] : spec.labels;
}
