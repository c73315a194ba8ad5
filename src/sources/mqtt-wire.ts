import mqttPacket from 'mqtt-packet';

/**
 * mqtt-packet writes every packet for both mqtt.js and aedes (one deduplicated copy in
 * node_modules; test/unit/mqtt-wire.test.ts checks they share it). By default its first
 * write fills a table of all 65,536 two-byte packet ids as separate Buffers and keeps it
 * for good: ~6 MB of heap on a daemon whose whole heap is ~30 MB, to save one 2-byte
 * allocation per packet that carries an id. Importing this module turns the table off
 * before anything is written.
 */
mqttPacket.writeToStream.cacheNumbers = false;

/** The mqtt-packet version this switch was checked against (major.minor; see its test). */
export const MQTT_PACKET_VERIFIED = '9.0';

/** Whether packet ids are written from the shared table (false once this module loaded). */
export function packetIdTableOn(): boolean {
  return mqttPacket.writeToStream.cacheNumbers;
}
