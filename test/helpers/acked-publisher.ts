import mqtt, { type MqttClient } from 'mqtt';

/**
 * A QoS 1 publisher that streams numbered messages to 127.0.0.1:port, keeps at most
 * `window` publishes unacknowledged, and records which numbers the broker acknowledged
 * (PUBACK). It reconnects by itself when the broker goes away (mqtt.js resends the
 * unacknowledged publishes on the new connection), so it survives broker restarts.
 */
export interface AckedPublisher {
  /** Numbers whose PUBACK arrived. */
  readonly acked: ReadonlySet<number>;
  /** How many numbers were handed to the client so far. */
  readonly sent: number;
  readonly inFlight: number;
  /** Stops handing out new numbers; those in flight may still be acknowledged. */
  pause(): void;
  /** Closes the connection (in-flight publishes stay unacknowledged). */
  close(): Promise<void>;
}

export interface AckedPublisherOptions {
  readonly port: number;
  /** The message for number i. */
  readonly message: (i: number) => { topic: string; payload: string };
  /** Stop after this many numbers; default unlimited. */
  readonly limit?: number;
  /** Unacknowledged publishes at most; default 50. */
  readonly window?: number;
  readonly keepalive?: number;
}

export function startAckedPublisher(opts: AckedPublisherOptions): AckedPublisher {
  const acked = new Set<number>();
  const window = opts.window ?? 50;
  const limit = opts.limit ?? Infinity;
  let next = 0;
  let inFlight = 0;
  let paused = false;
  const client: MqttClient = mqtt.connect(`mqtt://127.0.0.1:${opts.port}`, {
    reconnectPeriod: 50,
    connectTimeout: 2000,
    keepalive: opts.keepalive ?? 30,
    clean: true,
  });
  client.on('error', () => undefined); // refused while the broker is down: it retries
  const pump = (): void => {
    while (!paused && client.connected && inFlight < window && next < limit) {
      const i = next++;
      inFlight++;
      const m = opts.message(i);
      client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
        inFlight--;
        if (!err) acked.add(i);
        setImmediate(pump);
      });
    }
  };
  client.on('connect', pump);
  return {
    acked,
    get sent() {
      return next;
    },
    get inFlight() {
      return inFlight;
    },
    pause() {
      paused = true;
    },
    close: () => client.endAsync(true),
  };
}
