import { Observable, type OperatorFunction } from 'rxjs';
import type { Reading } from '../types.js';
import { encodeLine } from '../sink/line-protocol.js';

/**
 * Encodes each reading into one line of InfluxDB line protocol, once for every output.
 * A reading with no writable field left (e.g. only NaN values) is reported through
 * `onDropped` and not emitted. Completes and errors with its source.
 */
export function encodeLines(onDropped: (r: Reading) => void): OperatorFunction<Reading, string> {
  return (source) =>
    new Observable<string>((out) =>
      source.subscribe({
        next(r) {
          const line = encodeLine(r);
          if (line === null) onDropped(r);
          else out.next(line);
        },
        error: (e) => out.error(e),
        complete: () => out.complete(),
      }),
    );
}
