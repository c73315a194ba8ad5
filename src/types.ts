/**
 * The data types that flow through edgeflux, from a source's bytes to an output's
 * line protocol. See docs/architecture.md, "The flow".
 */
import type { Writable } from 'node:stream';

/**
 * A field value. Its JavaScript type fixes its InfluxDB type, so a field never flips:
 * `number` → float, `bigint` → integer (`i` suffix), `boolean` → boolean, `string` → string.
 * Decoders produce `bigint` only for fields a rule/profile declares integer.
 */
export type FieldValue = number | bigint | boolean | string;

/** One message as it arrived from the outside, before decoding. */
export interface RawMessage {
  /** Id of the source that received it (an `mqtt[].id`, `broker`, a serial port id). */
  readonly sourceId: string;
  /** MQTT topic, or the serial port's id for serial sources. */
  readonly topic: string;
  readonly payload: Buffer;
  /** Arrival time, ns since the epoch (unique and increasing within a process: see clock.ts). */
  readonly receivedAt: bigint;
  /**
   * Tells the source that this message is safe (decoded and handed on, or journaled once
   * the journal exists), so it may acknowledge it (MQTT PUBACK) and read the next one.
   * Must be called exactly once per message, also when the message was rejected.
   */
  readonly ack: () => void;
  /**
   * True when the source may be acked before the journal write because it holds the ack's
   * bytes behind the ingest's AckBarrier until that write is done (ingest/ack-barrier.ts).
   * Otherwise `ack` is called only after the write.
   */
  readonly ackGated?: boolean;
  /**
   * True for a message nobody waits for (no ack to give: edgeflux's own internal points):
   * the journal writes it but does not fsync for it alone (the next fsync of other data
   * covers it), so an idle daemon does not sync the disk for its own figures.
   */
  readonly unsynced?: boolean;
}

/**
 * edgeflux's own readings (sources/self-source.ts) arrive as messages of this source id on
 * this topic; the id is reserved (no configured source may take it) and such messages are
 * decoded by the self source's own decoder and never shaped.
 */
export const SELF_SOURCE_ID = 'edgeflux';
export const SELF_TOPIC = '$edgeflux/self';

/** Whether a message is edgeflux's own (the self source's). Topic first: no device message has the self topic, so one comparison settles most calls. */
export function isSelfMessage(m: Pick<RawMessage, 'sourceId' | 'topic'>): boolean {
  return m.topic === SELF_TOPIC && m.sourceId === SELF_SOURCE_ID;
}

/**
 * What a source that acks early needs of the ingest's AckBarrier (ingest/ack-barrier.ts):
 * `hold(stream)` corks the connection's socket before an ack is written to it, so that the
 * ack's bytes leave only once the journal write they promise is done.
 */
export interface AckGate {
  hold(stream: Writable): void;
}

/** What decoding looks at: a message without its acknowledgement (a journal record is one). */
export type MessageData = Pick<RawMessage, 'sourceId' | 'topic' | 'payload' | 'receivedAt'> & {
  /**
   * A journal record's payload as a range of the journal's bytes, so that decoders read it
   * without a Buffer view per message. When absent, `payload` is the range.
   */
  payloadRange?(): PayloadRange;
};

/** Bytes `buf[start, end)`. */
export interface PayloadRange {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
}

/** A typed reading, ready for the pipeline and the sink. */
export interface Reading {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Event time, ns since the epoch. */
  readonly time: bigint;
}

/** Why a message could not be decoded; counted by `reason` and kept in the dead-letter file. */
export type DecodeReason =
  | 'no_rule'
  | 'empty_payload'
  | 'payload_too_large'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_an_object'
  | 'invalid_number'
  | 'invalid_line_protocol'
  | 'wrong_type'
  | 'invalid_timestamp'
  | 'no_fields'
  /** A binary frame whose checksum does not match (serial sensors). */
  | 'checksum_mismatch'
  /** A frame of the wrong length, start or end (serial sensors), or garbage between frames. */
  | 'bad_frame'
  /** A Homie property whose `$description` schema is not known yet. */
  | 'missing_schema'
  /** A decoder threw: a bug in edgeflux, not bad input; counted apart so it is seen. */
  | 'internal_error';

/** A decoding failure as a value (bad input is data, not an exception). */
export interface DecodeError {
  readonly kind: 'decode_error';
  readonly reason: DecodeReason;
  /** Human-readable detail naming the place (key, line, offset). */
  readonly message: string;
}

export function decodeError(reason: DecodeReason, message: string): DecodeError {
  return { kind: 'decode_error', reason, message };
}

export function isDecodeError(x: unknown): x is DecodeError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'decode_error';
}

/** A decoder turns one raw message into readings, or says why it cannot. Pure. */
export type Decoder = (msg: MessageData, tagsFromTopic: Readonly<Record<string, string>>) => Reading[] | DecodeError;

/** Connection state of a source, for logs, health and metrics. */
export interface SourceStatus {
  readonly state: 'connecting' | 'up' | 'down' | 'closed';
  readonly lastError?: string;
}
