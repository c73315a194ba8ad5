/**
 * The places where edgeflux goes past MQTT.js's ordinary API, in one module. Checked
 * against the installed version by test/integration/mqtt-js.test.ts, which fails loudly when
 * the library changes.
 *
 * - `handleMessage(packet, callback)`: MQTT.js hands each incoming PUBLISH to this
 *   method and reads nothing further until it calls back; for QoS 1 the PUBACK is sent
 *   at the callback. Its README documents overriding it for backpressure; we take it
 *   over so that a message is acknowledged only once it is journaled.
 * - `outgoing`: the client's table of requests waiting for an answer (SUBSCRIBE, our
 *   own publishes), keyed by message id. A DISCONNECT would wait for them.
 */
import type { IPublishPacket, MqttClient } from 'mqtt';

/** The MQTT.js version the two reaches were checked against (major.minor). */
export const MQTTJS_VERIFIED = '5.16';

/**
 * Hands every incoming PUBLISH to `handler`; MQTT.js acknowledges it (and reads the next
 * packet) only when `ack` is called. Set before the first CONNECT goes out.
 */
export function holdEachPublish(client: MqttClient, handler: (packet: IPublishPacket, ack: (err?: Error) => void) => void): void {
  client.handleMessage = (packet, callback) => handler(packet, callback);
}

/** How many requests of ours are waiting for the broker's answer. */
export function requestsAwaitingAnswer(client: MqttClient): number {
  return Object.keys(client.outgoing).length;
}
