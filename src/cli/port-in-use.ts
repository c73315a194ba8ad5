import type { Config } from '../config/types.js';

interface ListenError {
  readonly code?: unknown;
  readonly port?: unknown;
  readonly address?: unknown;
  readonly cause?: unknown;
}

/** The EADDRINUSE error in `err` or its causes, with its port and address. */
function addressInUse(err: unknown): { port: number; address: string } | undefined {
  for (let e = err as ListenError | undefined, depth = 0; e && depth < 5; e = e.cause as ListenError | undefined, depth++) {
    if (e.code === 'EADDRINUSE' && typeof e.port === 'number') return { port: e.port, address: typeof e.address === 'string' ? e.address : '' };
  }
  return undefined;
}

/**
 * A start that failed because a port is taken, said in one line: which setting to
 * change and what else may hold the port (another edgeflux, a mosquitto the Pi already
 * runs); undefined for any other failure.
 */
export function portInUseMessage(err: unknown, config: Config): string | undefined {
  const inUse = addressInUse(err);
  if (!inUse) return undefined;
  const { port, address } = inUse;
  const where = `port ${port}${address ? ` on ${address}` : ''} is already in use`;
  const http = config.service.http;
  if (http.enabled && port === http.port) {
    return `${where} (service.http.port, health and metrics): another edgeflux may be running (systemctl status edgeflux); else set service.http.port to a free port, or service.http.enabled: false`;
  }
  const b = config.broker;
  if (b && (port === b.port || port === b.tls?.port)) {
    const key = port === b.port ? 'broker.port' : 'broker.tls.port';
    return `${where} (${key}, the embedded MQTT broker): another edgeflux may be running, or another MQTT broker such as mosquitto (systemctl status mosquitto); set ${key} to a free port, or remove broker: and read from that broker with an mqtt: source`;
  }
  return `${where}: another edgeflux may be running`;
}
