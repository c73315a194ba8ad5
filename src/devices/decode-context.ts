/** What a rule hands to a decoder besides the payload text. */
export interface DecodeContext {
  /** The rule's measurement; undefined only for line protocol (each line names its own). */
  readonly measurement?: string | undefined;
  /** Tags from the topic and the rule; they win over tags found in the payload. */
  readonly tags: Readonly<Record<string, string>>;
  /** Arrival time (ns): the event time when the payload has none. */
  readonly receivedAt: bigint;
}
