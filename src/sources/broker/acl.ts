import { filterCovers } from '../../util/topic-template.js';

/**
 * Access rules for the embedded broker: per user (or `*` for every authenticated user,
 * `anonymous` for clients without a username), the topic filters they may publish to and
 * subscribe to. `%u` is replaced by the username and `%c` by the client id (a value that
 * contains MQTT wildcards or `/` never matches, so a client cannot widen its own rule).
 * No matching rule = denied. `$SYS` is never granted for publishing.
 */
export interface AclRule {
  readonly user: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

export interface Acl {
  canPublish(username: string | undefined, clientId: string, topic: string): boolean;
  canSubscribe(username: string | undefined, clientId: string, filter: string): boolean;
}

const UNSAFE = /[+#/\0]/;

function expand(pattern: string, username: string | undefined, clientId: string): string | undefined {
  if (!pattern.includes('%')) return pattern;
  if (
    (pattern.includes('%u') && (username === undefined || UNSAFE.test(username) || username === '')) ||
    (pattern.includes('%c') && (UNSAFE.test(clientId) || clientId === ''))
  ) {
    return undefined;
  }
  // Function replacers: `$&`, `$$`, `` $` `` in a username or client id are text, not replacement patterns.
  return pattern.replaceAll('%u', () => username ?? '').replaceAll('%c', () => clientId);
}

export function compileAcl(rules: readonly AclRule[]): Acl {
  const forUser = (username: string | undefined) =>
    rules.filter((r) => (username === undefined ? r.user === 'anonymous' : r.user === '*' || r.user === username));
  const allowed = (patterns: readonly string[], username: string | undefined, clientId: string, target: string) =>
    patterns.some((p) => {
      const f = expand(p, username, clientId);
      return f !== undefined && filterCovers(f, target);
    });
  return {
    canPublish(username, clientId, topic) {
      if (topic.startsWith('$')) return false;
      return forUser(username).some((r) => allowed(r.publish, username, clientId, topic));
    },
    canSubscribe(username, clientId, filter) {
      const target = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
      if (target.startsWith('$SYS'))
        return forUser(username).some((r) => r.subscribe.some((p) => p.startsWith('$SYS')) && allowed(r.subscribe, username, clientId, target));
      return forUser(username).some((r) => allowed(r.subscribe, username, clientId, target));
    },
  };
}
