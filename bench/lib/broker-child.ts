/**
 * An embedded broker alone in its own process, for bench/broker-login-wave.ts: users from
 * argv[2] (JSON username → scrypt hash), prints its port on stdout, acks every message,
 * runs until killed.
 */
import { EmbeddedBroker } from '../../src/sources/embedded-broker.js';
import { silentLogger } from '../../src/observe/logger.js';

const users = new Map(Object.entries(JSON.parse(process.argv[2] ?? '{}') as Record<string, string>));
const broker = new EmbeddedBroker({
  config: { host: '127.0.0.1', port: 0 },
  logger: silentLogger(),
  security: { users, anonymous: 'never', clientCertUsers: false },
});
broker.messages().subscribe((m) => m.ack());
await broker.start();
process.stdout.write(`${broker.port}\n`);
process.on('SIGTERM', () => void broker.stop().then(() => process.exit(0)));
