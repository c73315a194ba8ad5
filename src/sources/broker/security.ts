import type { Client, Subscription } from 'aedes';
import type { Logger } from '../../observe/logger.js';
import type { Counters } from '../../observe/counters.js';
import { RateLimiter } from '../../observe/rate-limit.js';
import { verifyPassword } from './passwords.js';
import type { Acl } from './acl.js';
import { LoginThrottle } from './login-throttle.js';

/** Who may connect to the embedded broker, and what they may do. */
export interface BrokerSecurity {
  /** Username → scrypt hash (see passwords.ts). */
  readonly users: ReadonlyMap<string, string>;
  /** Clients without a username: never, only from loopback addresses (default), or from anywhere. */
  readonly anonymous: 'never' | 'loopback' | 'always';
  /** Absent: every admitted client may publish and subscribe anywhere but `$SYS`. */
  readonly acl?: Acl;
  /** TLS client certificates: a verified certificate's CN is the username. */
  readonly clientCertUsers: boolean;
}

export interface ClientIdentity {
  readonly address: string;
  /** CN of a verified TLS client certificate. */
  readonly certUser?: string;
}

/** Why a client was refused or a packet denied: the `reason` label of `broker_refused`. */
export type RefusalReason =
  | 'anonymous'
  | 'unknown_user'
  | 'bad_password'
  | 'publish_denied'
  | 'subscribe_denied'
  | 'payload_too_large'
  | 'topic_too_long'
  | 'too_many_levels'
  | 'rate_exceeded'
  | 'too_many_connections';

const AUTH_BAD_CREDENTIALS = 4;
const AUTH_NOT_AUTHORIZED = 5;

function authError(message: string, returnCode: number): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The aedes hooks for authentication and subscribe ACLs, and the publish check the
 * broker runs before ingesting. Failed logins are counted, logged with the client's
 * address (at most once per address every 10 s), and answered more slowly each time
 * from an address that keeps failing.
 */
export class BrokerGate {
  private readonly throttle: LoginThrottle;
  private readonly logLimit = new RateLimiter(10_000);
  /** The authenticated username of each client (absent for anonymous ones). */
  private readonly usernames = new WeakMap<Client, string>();

  constructor(
    private readonly security: BrokerSecurity,
    private readonly identify: (client: Client) => ClientIdentity,
    private readonly log: Logger,
    private readonly counters: Counters,
    throttle?: LoginThrottle,
  ) {
    this.throttle = throttle ?? new LoginThrottle({ freeFailures: 3, baseDelayMs: 250, maxDelayMs: 10_000, forgetMs: 15 * 60_000, maxAddresses: 10_000 });
  }

  refuse(reason: RefusalReason, details: Record<string, unknown>, message: string): void {
    this.counters.inc('broker_refused', { reason });
    const key = `${reason}\0${String(details.address ?? details.clientId ?? '')}`;
    const suppressed = this.logLimit.take(key);
    if (suppressed >= 0) this.log.warn({ ...details, reason, suppressed }, message);
  }

  /** aedes `authenticate`. */
  readonly authenticate = (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void => {
    const id = this.identify(client);
    const delay = this.throttle.delayFor(id.address);
    const answer = (err: (Error & { returnCode: number }) | null) => {
      if (delay > 0) setTimeout(() => done(err, err === null), delay).unref();
      else done(err, err === null);
    };
    const fail = (reason: RefusalReason, code: number, message: string) => {
      const failures = this.throttle.failed(id.address);
      this.refuse(reason, { address: id.address, clientId: client.id, username, failures }, `broker: login refused (${message}) from ${id.address}`);
      answer(authError(message, code));
    };

    if (this.security.clientCertUsers && id.certUser !== undefined && (username === undefined || username === id.certUser)) {
      this.usernames.set(client, id.certUser);
      this.throttle.succeeded(id.address);
      return answer(null);
    }
    if (username === undefined || username === '') {
      const ok = this.security.anonymous === 'always' || (this.security.anonymous === 'loopback' && isLoopbackAddress(id.address));
      if (!ok) return fail('anonymous', AUTH_NOT_AUTHORIZED, 'anonymous clients are not allowed');
      return answer(null);
    }
    const hash = this.security.users.get(username);
    if (hash === undefined) return fail('unknown_user', AUTH_BAD_CREDENTIALS, 'unknown user or wrong password');
    verifyPassword(password?.toString('utf8') ?? '', hash).then(
      (ok) => {
        if (!ok) return fail('bad_password', AUTH_BAD_CREDENTIALS, 'unknown user or wrong password');
        this.usernames.set(client, username);
        this.throttle.succeeded(id.address);
        answer(null);
      },
      (err: unknown) => {
        this.log.error({ err, clientId: client.id }, 'broker: password check failed');
        answer(authError('server error', 3));
      },
    );
  };

  /** aedes `authorizeSubscribe`: a denied filter is answered with a failure code (0x80). */
  readonly authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void => {
    if (this.canSubscribe(client, sub.topic)) return done(null, sub);
    this.refuse('subscribe_denied', { clientId: client.id, username: this.usernames.get(client), topic: sub.topic }, `broker: subscribe to ${sub.topic} denied`);
    done(null, null);
  };

  canPublish(client: Client | null, topic: string): boolean {
    if (client === null) return true;
    if (topic.startsWith('$')) return false;
    const acl = this.security.acl;
    return acl === undefined || acl.canPublish(this.usernames.get(client), client.id, topic);
  }

  private canSubscribe(client: Client, filter: string): boolean {
    const acl = this.security.acl;
    if (acl === undefined) return !filter.replace(/^\$share\/[^/]+\//, '').startsWith('$SYS');
    return acl.canSubscribe(this.usernames.get(client), client.id, filter);
  }

  username(client: Client): string | undefined {
    return this.usernames.get(client);
  }
}
