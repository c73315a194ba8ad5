/**
 * The embedded broker's settings (listeners, doors, limits), and how they come from the
 * validated `broker:` config section.
 */
import type { BrokerConfig } from '../../config/types.js';
import { compileAcl } from './acl.js';
import { DEFAULT_RETAINED_BOUNDS, type RetainedBounds } from './retained-limits.js';
import type { BrokerSecurity } from './security.js';

/** Input limits of the embedded broker; exceeding one refuses or disconnects, counted. */
export interface BrokerLimits {
  /** Largest MQTT packet (≈ payload + topic); larger ones end the connection before being buffered. */
  readonly maxPacketBytes: number;
  readonly maxConnections: number;
  /** Connections from one address (held failed logins included): one host cannot take them all. */
  readonly maxConnectionsPerAddress: number;
  /** A connection that has not sent a whole CONNECT by then is closed (counted `connect_timeout`). */
  readonly connectTimeoutMs: number;
  /** Messages queued per persistent session (offline or unacknowledged); beyond, new ones are dropped, counted. */
  readonly maxQueuedPerClient: number;
  /** Longest topic, in UTF-8 bytes (the unit of MQTT's own limit). */
  readonly maxTopicLength: number;
  readonly maxTopicLevels: number;
  /**
   * Publishes per second per client (burst: one second's worth); beyond it the client is
   * disconnected. 0 = no limit (the default: one gateway client, e.g. a Zigbee bridge, may
   * speak for hundreds of devices; memory stays bounded anyway, since unacked publishes
   * stop the broker from reading that client: maxHeldPerClient).
   */
  readonly maxRatePerClient: number;
  /**
   * Publishes of one client (by client id) handed on and not yet acked (QoS 0, 1 and 2 alike:
   * each waits for the ingest's ack) at which the broker stops reading that client's socket,
   * if they are still unacked at the end of the event-loop turn that reached it (the ingest
   * acks a healthy turn's messages then); it reads on once fewer are held. The publisher then blocks in its own TCP send buffer, so
   * a held ingest (`block` at the quota, a full disk) keeps at most this many messages per
   * client, plus the packets that the reads of that turn brought in beyond it (in a burst,
   * aedes itself stops after one read: at most a 64 KiB socket read of packets). A client that reconnects while its publishes
   * are held keeps its count, and its new connection is not read either.
   */
  readonly maxHeldPerClient: number;
}

export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  // Above the decoder's own payload limit (limits.max_payload, default 256 KiB), so that a
  // merely large payload is dead-lettered with its reason; only absurd packets cost the connection.
  maxPacketBytes: 1024 * 1024,
  maxConnections: 1000,
  maxConnectionsPerAddress: 32,
  connectTimeoutMs: 5000,
  maxQueuedPerClient: 1000,
  maxTopicLength: 256,
  maxTopicLevels: 16,
  maxRatePerClient: 0,
  // MQTT 3.1.1 has no receive maximum; 100 is above what devices keep in flight (mosquitto's
  // client default is 20) so a healthy ingest, which acks at the end of each turn, never
  // pauses a connection; MQTT 5's default receive maximum is 65,535.
  maxHeldPerClient: 100,
};

export interface BrokerTls {
  readonly host: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
  /** Ask for client certificates; `required` refuses a client without a valid one. */
  readonly clientCerts: 'none' | 'optional' | 'required';
}

/** What the config decides about the embedded broker (EmbeddedBroker takes these and its wiring). */
export interface BrokerSettings {
  /** The plain listener's address. */
  readonly config: Pick<BrokerConfig, 'host' | 'port'>;
  /** Users, anonymous policy and ACLs. Absent: anyone may connect (warned unless bound to loopback). */
  readonly security?: BrokerSecurity;
  /** Bounds on retained messages (defaults: DEFAULT_RETAINED_BOUNDS). */
  readonly retained?: Partial<RetainedBounds>;
  readonly limits?: Partial<BrokerLimits>;
  /** Plain TCP listener on config.host:config.port; default true. */
  readonly plaintext?: boolean;
  /** TLS listener. */
  readonly tls?: BrokerTls;
}

/** EmbeddedBroker options from the validated `broker:` config section. */
export function brokerOptionsFromConfig(c: BrokerConfig, maxPayload = DEFAULT_RETAINED_BOUNDS.maxPayloadBytes): BrokerSettings {
  const r = c.limits.retained;
  return {
    retained: {
      maxPayloadBytes: r.max_payload ?? maxPayload,
      maxPerUser: r.max_per_user,
      maxBytesPerUser: r.max_bytes_per_user,
      maxTotal: r.max_total,
      maxBytesTotal: r.max_bytes_total,
    },
    config: { host: c.host, port: c.port },
    plaintext: c.plaintext,
    security: {
      users: new Map(c.users.map((u) => [u.username, u.password_hash])),
      anonymous: c.anonymous,
      ...(c.acl !== undefined && { acl: compileAcl(c.acl) }),
      clientCertUsers: c.tls?.client_certs !== undefined && c.tls.client_certs !== 'none',
      ...(c.client_id !== undefined && { clientIdPattern: c.client_id }),
    },
    limits: {
      maxPacketBytes: c.limits.max_packet,
      maxConnections: c.limits.max_connections,
      maxConnectionsPerAddress: c.limits.max_connections_per_address,
      connectTimeoutMs: c.limits.connect_timeout,
      maxQueuedPerClient: c.limits.max_queued_messages,
      maxTopicLength: c.limits.max_topic_length,
      maxTopicLevels: c.limits.max_topic_levels,
      maxRatePerClient: c.limits.max_rate,
    },
    ...(c.tls !== undefined && {
      tls: {
        host: c.tls.host ?? c.host,
        port: c.tls.port,
        cert: c.tls.cert,
        key: c.tls.key,
        ...(c.tls.ca !== undefined && { ca: c.tls.ca }),
        clientCerts: c.tls.client_certs,
      },
    }),
  };
}
