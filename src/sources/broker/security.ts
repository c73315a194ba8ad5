import type { Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from '../../observe/logger.js';
import type { Counters } from '../../observe/counters.js';
import type { ErrorCode } from '../../util/errors.js';
import { RateLimiter } from '../../util/rate-limit.js';
import { dummyHashLike, verifyPassword } from '../../util/passwords.js';
import type { Acl } from './acl.js';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.js';
import { PasswordChecks } from './password-checks.js';
import { ANONYMOUS_OWNER, clientIdMatches, ClientIdOwners } from './client-ids.js';

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
  /**
   * Client ids a user may use, e.g. `%u-*` (`%u` = username, `*` = anything); absent = any.
   * Either way a client id belongs to the first user that used it (client-ids.ts).
   */
  readonly clientIdPattern?: string;
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
  | 'too_many_connections'
  | 'too_many_connections_per_address'
  | 'connect_timeout'
  | 'retained_too_large'
  | 'retained_limit'
  | 'client_id_taken'
  | 'client_id_pattern'
  | 'forward_denied'
  | 'busy'
  | 'throttled';

/** The code (docs/troubleshooting.md) of a refusal: failed logins apart from broken limits and ACLs. */
export function refusalCode(reason: RefusalReason): ErrorCode {
  return reason === 'anonymous' || reason === 'unknown_user' || reason === 'bad_password' || reason === 'throttled'
    ? 'EFX_BROKER_LOGIN_REFUSED'
    : 'EFX_BROKER_REFUSED';
}

const AUTH_IDENTIFIER_REJECTED = 2;
const AUTH_SERVER_UNAVAILABLE = 3;
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
/** How the gate checks passwords and slows guessing; every field has a default. */
export interface GateOptions {
  readonly throttle?: Partial<LoginThrottleOptions>;
  readonly owners?: ClientIdOwners;
  /** Password checks run at once (default 2) and waiting (default 16); beyond: CONNACK 3. */
  readonly concurrentChecks?: number;
  readonly queuedChecks?: number;
  /** Failure answers held back at once, over all clients (default 1000); beyond: CONNACK 3 before any check. */
  readonly maxHeldAnswers?: number;
  /** The password check (default: scrypt, passwords.ts). */
  readonly verify?: (password: string, hash: string) => Promise<boolean>;
}

export class BrokerGate {
  private readonly throttle: LoginThrottle;
  private readonly checks: PasswordChecks;
  private readonly verify: (password: string, hash: string) => Promise<boolean>;
  private readonly maxHeld: number;
  private held = 0;
  /** What an unknown user's password is checked against: same cost as a real user's. */
  private readonly dummyHash: string;
  private readonly logLimit = new RateLimiter(10_000);
  /** The authenticated username of each client (absent for anonymous ones). */
  private readonly usernames = new WeakMap<Client, string>();
  /** Clients that sent an empty client id (aedes made one up): nothing to own. */
  private readonly generatedIds = new WeakSet<Client>();
  readonly owners: ClientIdOwners;

  constructor(
    private readonly security: BrokerSecurity,
    private readonly identify: (client: Client) => ClientIdentity,
    private readonly log: Logger,
    private readonly counters: Counters,
    opts: GateOptions = {},
  ) {
    this.throttle = new LoginThrottle(opts.throttle);
    this.checks = new PasswordChecks(opts.concurrentChecks ?? 2, opts.queuedChecks ?? 16);
    this.verify = opts.verify ?? verifyPassword;
    this.maxHeld = opts.maxHeldAnswers ?? 1000;
    this.owners = opts.owners ?? new ClientIdOwners(undefined);
    this.dummyHash = dummyHashLike(security.users.values().next().value);
  }

  refuse(reason: RefusalReason, details: Record<string, unknown>, message: string): void {
    this.counters.inc('broker_refused', { reason });
    const key = `${reason}\0${String(details.address ?? details.clientId ?? '')}`;
    const suppressed = this.logLimit.take(key);
    if (suppressed >= 0) this.log.warn({ code: refusalCode(reason), ...details, reason, suppressed }, message);
  }

  /** aedes `preConnect`: notes the clients whose id aedes will make up. */
  readonly preConnect = (client: Client, packet: { clientId: string }, done: (err: Error | null, ok: boolean) => void): void => {
    if (packet.clientId === '') this.generatedIds.add(client);
    done(null, true);
  };

  /**
   * The client id check after a good login: the id must fit the pattern and must not
   * belong to another user. Refused before aedes registers the client, so the owner's
   * connection is not kicked and its session is neither shown nor cleaned.
   */
  private clientIdRefusal(client: Client, username: string | undefined, address: string): (Error & { returnCode: number }) | undefined {
    if (this.generatedIds.has(client)) return undefined;
    const pattern = this.security.clientIdPattern;
    if (pattern !== undefined && !clientIdMatches(pattern, client.id, username)) {
      this.refuse('client_id_pattern', { address, clientId: client.id.slice(0, 200), username }, `broker: client id refused: it does not match ${pattern}`);
      return authError('client id not allowed for this user', AUTH_IDENTIFIER_REJECTED);
    }
    const claim = this.owners.claim(client.id, username ?? ANONYMOUS_OWNER, (err) => {
      this.counters.inc('broker_state_errors', { what: 'owners' });
      this.log.error({ err }, 'broker: saving a client id owner failed');
    });
    if (claim.ok) return undefined;
    this.refuse(
      'client_id_taken',
      { address, clientId: client.id.slice(0, 200), username },
      `broker: client id ${client.id.slice(0, 200)} belongs to another user; refused`,
    );
    return authError('client id belongs to another user', AUTH_NOT_AUTHORIZED);
  }

  /**
   * aedes `authenticate`. A known user's password and an unknown user's are checked alike
   * (the latter against a dummy hash of the same cost), through the bounded PasswordChecks;
   * only failure answers are held back (LoginThrottle).
   */
  readonly authenticate = (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void,
  ): void => {
    const id = this.identify(client);
    const admit = (user: string | undefined) => {
      const refusal = this.clientIdRefusal(client, user, id.address);
      if (refusal) return done(refusal, false);
      if (user !== undefined) this.usernames.set(client, user);
      done(null, true);
    };
    /** Refuses the login after `delayMs`; `release` runs once the answer is sent. */
    const fail = (reason: RefusalReason, code: number, message: string, delayMs: number, release: () => void = () => {}) => {
      // A username that is not a user may be a password typed into the wrong field: never logged.
      const who = reason === 'unknown_user' ? { unknownUser: true, usernameLength: username?.length ?? 0 } : { username };
      this.refuse(reason, { address: id.address, clientId: client.id.slice(0, 200), ...who, delayMs }, `broker: login refused (${message}) from ${id.address}`);
      const err = authError(message, code);
      if (delayMs <= 0) {
        release();
        return done(err, false);
      }
      this.counters.inc('broker_login_delayed');
      this.held++;
      setTimeout(() => {
        this.held--;
        release();
        done(err, false);
      }, delayMs).unref();
    };
    const busy = (reason: 'busy' | 'throttled', why: string) => {
      this.refuse(reason, { address: id.address, why }, `broker: login refused: ${why}`);
      done(authError('server busy', AUTH_SERVER_UNAVAILABLE), false);
    };

    if (this.security.clientCertUsers && id.certUser !== undefined && (username === undefined || username === id.certUser)) {
      return admit(id.certUser);
    }
    if (username === undefined || username === '') {
      const ok = this.security.anonymous === 'always' || (this.security.anonymous === 'loopback' && isLoopbackAddress(id.address));
      if (!ok) return fail('anonymous', AUTH_NOT_AUTHORIZED, 'anonymous clients are not allowed', this.throttle.failed(id.address, ''));
      return admit(undefined);
    }
    if (this.held >= this.maxHeld) return busy('busy', 'too many failed logins being answered');
    if (!this.throttle.admit(id.address, username)) return busy('throttled', 'another attempt for this user from this address is still in flight');
    const hash = this.security.users.get(username);
    this.checks
      .run(
        this.throttle.suspicion(id.address, username),
        () => this.verify(password?.toString('utf8') ?? '', hash ?? this.dummyHash),
        this.throttle.isClean(id.address, username),
      )
      .then(
        (outcome) => {
          if (outcome.busy) {
            this.throttle.answered(id.address, username);
            return busy('busy', 'too many password checks waiting');
          }
          if (hash !== undefined && outcome.value) {
            this.throttle.succeeded(id.address, username);
            return admit(username);
          }
          const delayMs = this.throttle.failed(id.address, username);
          const release = () => this.throttle.answered(id.address, username);
          fail(hash === undefined ? 'unknown_user' : 'bad_password', AUTH_BAD_CREDENTIALS, 'unknown user or wrong password', delayMs, release);
        },
        (err: unknown) => {
          this.throttle.answered(id.address, username);
          this.log.error({ err, clientId: client.id }, 'broker: password check failed');
          done(authError('server error', AUTH_SERVER_UNAVAILABLE), false);
        },
      );
  };

  /** aedes `authorizeSubscribe`: a denied filter is answered with a failure code (0x80). */
  readonly authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void => {
    if (this.canSubscribe(client, sub.topic)) return done(null, sub);
    this.refuse(
      'subscribe_denied',
      { clientId: client.id, username: this.usernames.get(client), topic: sub.topic },
      `broker: subscribe to ${sub.topic} denied`,
    );
    done(null, null);
  };

  /**
   * aedes `authorizeForward`: every message on its way to a subscriber, live or from its
   * offline queue, is checked against the receiver's subscribe rights now (a session kept
   * across a restart may hold subscriptions that a changed ACL no longer grants).
   */
  readonly authorizeForward = <P extends PublishPacket>(client: Client, packet: P): P | null => {
    const acl = this.security.acl;
    if (acl === undefined && !packet.topic.startsWith('$SYS')) return packet;
    if (this.canSubscribe(client, packet.topic)) return packet;
    this.refuse(
      'forward_denied',
      { clientId: client.id, username: this.usernames.get(client), topic: packet.topic.slice(0, 200) },
      `broker: message on ${packet.topic.slice(0, 200)} not forwarded to client ${client.id}: not allowed by the ACL`,
    );
    return null;
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
