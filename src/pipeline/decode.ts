import { Observable, type OperatorFunction } from 'rxjs';
import { isDecodeError, type DecodeError, type RawMessage, type Reading } from '../types.js';

/**
 * Decodes each message into readings and emits them one by one; a message that cannot
 * be decoded is handed to `onError` (count, log, dead-letter) and the stream goes on:
 * bad input is data, not a stream error. Each message is acknowledged to its source
 * right after its readings have been pushed downstream, which is synchronous up to the
 * sink's buffers, so an ack means the readings were accepted. A decoder that throws
 * (a bug, not bad input) is reported through `onError` as well and never ends the stream.
 * Completes when the source completes; errors are forwarded.
 */
export function decodeMessages(
  decode: (msg: RawMessage) => Reading[] | DecodeError,
  onError: (msg: RawMessage, err: DecodeError) => void,
): OperatorFunction<RawMessage, Reading> {
  return (source) =>
    new Observable<Reading>((out) =>
      source.subscribe({
        next(msg) {
          try {
            const r = decode(msg);
            if (isDecodeError(r)) onError(msg, r);
            else for (let i = 0; i < r.length; i++) out.next(r[i]!);
          } catch (e) {
            onError(msg, { kind: 'decode_error', reason: 'internal_error', message: e instanceof Error ? e.message : String(e) });
          } finally {
            msg.ack();
          }
        },
        error: (e) => out.error(e),
        complete: () => out.complete(),
      }),
    );
}
