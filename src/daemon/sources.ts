/**
 * The configured sources: the embedded broker, the external MQTT brokers and the serial
 * ports. aedes, mqtt.js and serialport are loaded only when used, so a daemon without them
 * stays smaller (a daemon fed by its embedded broker alone holds no mqtt.js: ~1.5 MB of RSS).
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Devices } from '../devices/device-config.js';
import { defaultFilters, sourceSubscriptions } from '../devices/device-messages.js';
import type { RuleSet } from '../devices/rules.js';
import type { AckBarrier } from '../ingest/ack-barrier.js';
import type { Counters } from '../observe/counters.js';
import type { Logger } from '../observe/logger.js';
import type { EmbeddedBroker } from '../sources/embedded-broker.js';
import type { Source } from '../sources/source.js';
import type { Clock } from '../clock.js';
import type { MessageData } from '../types.js';

export interface SourceWiring {
  readonly config: Config;
  readonly rules: RuleSet;
  readonly devices: Devices | undefined;
  /** Decodes a message without ingesting it (the broker's retained copies teach decoders again). */
  readonly learn: (m: MessageData) => void;
  /** Holds an MQTT client's acks until their messages are journaled. */
  readonly ackBarrier: AckBarrier;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counters: Counters;
}

export interface ConfiguredSources {
  readonly broker: EmbeddedBroker | undefined;
  /** The broker (if any) first, then the MQTT sources, then the serial ports. */
  readonly sources: Source[];
}

export async function createSources(w: SourceWiring): Promise<ConfiguredSources> {
  const broker = w.config.broker ? await embeddedBroker(w) : undefined;
  const sources: Source[] = broker ? [broker] : [];
  sources.push(...(await mqttSources(w)), ...(await serialSources(w)));
  return { broker, sources };
}

async function mqttSources(w: SourceWiring): Promise<Source[]> {
  if (w.config.mqtt.length === 0) return [];
  const { MqttSource } = await import('../sources/mqtt-source.js');
  const filters = defaultFilters(w.rules, w.devices);
  return w.config.mqtt.map(
    (mc) =>
      new MqttSource({
        config: { ...mc, subscriptions: sourceSubscriptions(mc, filters) },
        logger: w.logger.child({ source: mc.id }),
        clock: w.clock,
        ackBarrier: w.ackBarrier,
        counters: w.counters,
      }),
  );
}

async function embeddedBroker(w: SourceWiring): Promise<EmbeddedBroker | undefined> {
  const { config } = w;
  if (!config.broker) return undefined;
  const { EmbeddedBroker, brokerOptionsFromConfig } = await import('../sources/embedded-broker.js');
  // Durable mode keeps the broker's state (client id owners, retained messages, persistent
  // sessions) beside the journal; memory mode writes nothing to disk.
  const stateDir = config.spool.mode === 'durable' ? join(config.spool.dir, 'broker') : undefined;
  return new EmbeddedBroker({
    ...brokerOptionsFromConfig(config.broker, config.limits.max_payload),
    ...(stateDir !== undefined && { stateDir }),
    // Decoders that learn from earlier messages (Homie's retained $description) learn
    // again from the retained copies; their readings, if any, are not ingested twice.
    onRetained: (m) => w.learn({ sourceId: 'broker', topic: m.topic, payload: m.payload, receivedAt: w.clock.arrivalNs() }),
    logger: w.logger.child({ source: 'broker' }),
    clock: w.clock,
    counters: w.counters,
  });
}

async function serialSources(w: SourceWiring): Promise<Source[]> {
  const serialPorts = w.devices?.serialPorts ?? [];
  if (serialPorts.length === 0) return [];
  const { SerialSource } = await import('../sources/serial/serial-source.js');
  return serialPorts.map((settings) => new SerialSource({ settings, logger: w.logger.child({ source: settings.id }), clock: w.clock, counters: w.counters }));
}
