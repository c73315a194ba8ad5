/** Opening and closing a serialport stream: the options from a port's settings, a bounded close. */
import type { SerialPortStream } from '@serialport/stream';
import type { SerialPortSettings } from '../../config/schema-serial.js';
import { settlesWithin } from '../../util/timeout.js';

/** What `createPort` gets: serialport's open options (autoOpen is always false). */
export interface PortOpenSettings {
  readonly path: string;
  readonly baudRate: number;
  readonly dataBits: 5 | 6 | 7 | 8;
  readonly parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  readonly stopBits: 1 | 1.5 | 2;
  readonly lock: boolean;
  readonly autoOpen: false;
}

/** serialport's open options for a port (exclusive = TIOCEXCL through `lock`). */
export function openSettings(c: SerialPortSettings): PortOpenSettings {
  return { path: c.path, baudRate: c.baud_rate, dataBits: c.data_bits, parity: c.parity, stopBits: c.stop_bits, lock: c.exclusive, autoOpen: false };
}

/** Closes the port; resolves when closed or after `timeoutMs`, whichever first. */
export async function closePort(port: SerialPortStream, timeoutMs: number): Promise<void> {
  await settlesWithin(new Promise<void>((resolve) => port.close(() => resolve())), timeoutMs);
}
