/**
 * The HTTP listener for operations: `GET /healthz` (200 or 503, JSON with the reasons)
 * and `GET /metrics` (Prometheus text). Loopback by default. Nothing unbounded: requests
 * and idle keep-alive sockets time out, headers are capped in size and count, bodies are
 * refused, connections are capped, and the daemon's answer (health facts, metrics) gets
 * a bounded time after which the request fails with 503.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from './logger.js';
import { DEFAULT_THRESHOLDS, evaluateHealth, unavailableReport, type HealthReport, type HealthSource, type HealthThresholds } from './health.js';
import { settlesWithin, withTimeout } from '../util/timeout.js';
import { packageRoot } from '../util/package-root.js';
import { StatusFeed, type StatusFeedOptions } from './status-feed.js';
import { Sessions, type LoginOptions } from './status-login.js';

export interface MetricsRenderer {
  render(): Promise<string>;
  readonly contentType: string;
}

export interface HealthServerOptions {
  readonly host: string;
  /** 0 = any free port (see `port` after `start()`). */
  readonly port: number;
  readonly health: HealthSource;
  readonly thresholds?: HealthThresholds;
  /** Absent: /metrics answers 404. */
  readonly metrics?: MetricsRenderer;
  /** `GET /spool` answers this as JSON (for `edgeflux spool status`); absent or undefined: 404. */
  readonly spoolStatus?: () => unknown;
  /** The status page at `/` with its live feed at `/events`; absent: `/` says where /healthz and /metrics are. */
  readonly status?: Omit<StatusFeedOptions, 'health' | 'logger'>;
  /** Present: the status page (not /healthz, /metrics) needs a login (POST /login sets a session cookie). */
  readonly login?: LoginOptions;
  readonly logger: Logger;
  /** Whole-request limit (headers and answer). Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Open connections at most. Default 16. */
  readonly maxConnections?: number;
  readonly now?: () => number;
}

const MAX_HEADER_BYTES = 8 * 1024;
const KEEP_ALIVE_MS = 5_000;
const CLOSE_GRACE_MS = 2_000;
const LOOPBACK = /^(127\.|::1$|localhost$)/;
/** The status page's files (shipped in the package beside dist/): name → content type. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'login.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
/** What may be fetched without a session (the login form and its style). */
const PUBLIC = new Set(['login.html', 'style.css']);
const MAX_LOGIN_BODY = 2048;

export class HealthServer {
  private server: Server | undefined;
  /** Open connections, with the number of requests each is answering. */
  private readonly sockets = new Map<Socket, number>();
  private boundPort: number | undefined;
  readonly feed: StatusFeed | undefined;
  private readonly sessions: Sessions | undefined;
  private assets = new Map<string, Buffer>();
  private failedLogin: Buffer | undefined;

  constructor(private readonly opts: HealthServerOptions) {
    this.feed = opts.status && new StatusFeed({ ...opts.status, health: () => this.report(), logger: opts.logger });
    this.sessions = opts.status && opts.login ? new Sessions(opts.login) : undefined;
  }

  /** The bound port, once started. */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('health server: not started');
    return this.boundPort;
  }

  get url(): string {
    const h = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `http://${h}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    if (this.feed) {
      try {
        // Looked up here, not at import: an install without its package root still serves /healthz and /metrics.
        const dir = join(packageRoot(), 'status-page');
        this.assets = new Map(await Promise.all(Object.keys(ASSETS).map(async (n) => [n, await readFile(join(dir, n))] as const)));
        // After a failed login (`/login?failed=1`) the form says so: the same page with its notice shown (no script needed).
        const login = this.assets.get('login.html');
        this.failedLogin = login && Buffer.from(login.toString().replace('role="alert" hidden>', 'role="alert">'));
      } catch (err) {
        // An install without the files still serves /healthz and /metrics.
        this.opts.logger.warn({ err }, 'status page: its files are missing from the installation; / serves only a pointer to /healthz and /metrics');
      }
    }
    const timeout = this.opts.requestTimeoutMs ?? 5_000;
    const server = createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: timeout, headersTimeout: timeout, keepAliveTimeout: KEEP_ALIVE_MS },
      (req, res) => {
        const sock = req.socket;
        this.sockets.set(sock, (this.sockets.get(sock) ?? 0) + 1);
        res.once('close', () => {
          const n = (this.sockets.get(sock) ?? 1) - 1;
          if (this.sockets.has(sock)) this.sockets.set(sock, n);
          if (n === 0 && this.server === undefined) sock.destroy(); // stopping: no keep-alive
        });
        void this.handle(req, res);
      },
    );
    server.maxHeadersCount = 32;
    server.maxRequestsPerSocket = 100;
    server.maxConnections = this.opts.maxConnections ?? 16;
    server.setTimeout(timeout); // idle sockets
    server.on('connection', (s: Socket) => {
      this.sockets.set(s, 0);
      s.once('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.server = undefined;
        reject(err);
      };
      server.once('error', onError);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger.error({ err }, 'health server error'));
    this.boundPort = (server.address() as AddressInfo).port;
    const exposed = !LOOPBACK.test(this.opts.host);
    this.opts.logger.info({ url: this.url }, `health and metrics at ${this.url}/healthz and ${this.url}/metrics`);
    if (exposed) this.opts.logger.warn({ host: this.opts.host }, 'health server: listening beyond loopback; /metrics names your devices and outputs');
  }

  /** Closes the listener and every connection; resolves within a bounded time. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.boundPort = undefined;
    this.feed?.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Connections between requests go now; those answering one finish it (at most the grace).
    for (const [s, active] of this.sockets) if (active === 0) s.destroy();
    await settlesWithin(closed, CLOSE_GRACE_MS);
    for (const s of this.sockets.keys()) s.destroy();
    this.sockets.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const method = req.method ?? 'GET';
      if (this.sessions && method === 'POST' && (path === '/login' || path === '/logout')) return await this.loginOrOut(req, res, path);
      if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD', Connection: 'close' });
      if (hasBody(req)) return send(res, 400, 'text/plain', 'a request body is not accepted\n', { Connection: 'close' });
      if (path === '/healthz') {
        const report = await this.report();
        return send(res, report.status === 'ok' ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`, { 'Cache-Control': 'no-store' });
      }
      if (path === '/metrics' && this.opts.metrics) {
        const m = this.opts.metrics;
        const text = await withTimeout(m.render(), this.answerMs(), 'metrics');
        return send(res, 200, m.contentType, text, { 'Cache-Control': 'no-store' });
      }
      if (path === '/spool' && this.opts.spoolStatus) {
        const status = this.opts.spoolStatus();
        if (status === undefined) return send(res, 503, 'text/plain', 'the spool is not open yet\n', { 'Cache-Control': 'no-store' });
        return send(res, 200, 'application/json', `${JSON.stringify(status)}\n`, { 'Cache-Control': 'no-store' });
      }
      const asset = path === '/' ? 'index.html' : path === '/login' ? 'login.html' : path.slice(1);
      if (this.sessions && (path === '/events' || (this.assets.has(asset) && !PUBLIC.has(asset))) && this.sessions.user(req.headers.cookie) === undefined) {
        if (path === '/') return send(res, 303, 'text/plain', 'log in at /login\n', { Location: '/login', 'Cache-Control': 'no-store' });
        return send(res, 401, 'text/plain', 'log in first\n', { 'Cache-Control': 'no-store' });
      }
      if (this.feed && path === '/events') return this.feed.open(req, res);
      const body = asset === 'login.html' && /[?&]failed=1(&|$)/.test(req.url ?? '') ? this.failedLogin : this.assets.get(asset);
      if (body)
        return send(res, 200, ASSETS[asset] ?? 'application/octet-stream', body, {
          'Cache-Control': 'no-cache',
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': "default-src 'self'",
        });
      if (path === '/') return send(res, 200, 'text/plain', 'edgeflux: /healthz /metrics\n');
      return send(res, 404, 'text/plain', 'not found\n');
    } catch (err) {
      this.opts.logger.warn({ err, url: req.url }, 'health server: request failed');
      if (!res.headersSent) send(res, 503, 'text/plain', `unavailable: ${(err as Error).message}\n`, { Connection: 'close' });
      else res.destroy();
    }
  }

  /** POST /login (form: username, password) or /logout; answers with a redirect. */
  private async loginOrOut(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const sessions = this.sessions!;
    if (path === '/logout') return send(res, 303, 'text/plain', 'logged out\n', { Location: '/login', 'Set-Cookie': sessions.logout(req.headers.cookie) });
    if (sessions.opts.verify === undefined)
      return send(res, 403, 'text/plain', `the status page has no users: ${sessions.opts.why ?? 'see docs/status-page.md'}\n`, { Connection: 'close' });
    const form = new URLSearchParams(await readBody(req, MAX_LOGIN_BODY));
    const cookie = await sessions.login(form.get('username') ?? '', form.get('password') ?? '');
    if (cookie === undefined) {
      this.opts.logger.warn({ username: (form.get('username') ?? '').slice(0, 64), remote: req.socket.remoteAddress }, 'status page: a login failed');
      return send(res, 303, 'text/plain', 'wrong username or password\n', { Location: '/login?failed=1', 'Cache-Control': 'no-store' });
    }
    return send(res, 303, 'text/plain', 'logged in\n', { Location: '/', 'Set-Cookie': cookie, 'Cache-Control': 'no-store' });
  }

  private async report(): Promise<HealthReport> {
    const now = this.opts.now ?? Date.now;
    try {
      const facts = await withTimeout(
        Promise.resolve().then(() => this.opts.health.healthFacts()),
        this.answerMs(),
        'health facts',
      );
      return evaluateHealth(facts, this.opts.thresholds ?? DEFAULT_THRESHOLDS, now());
    } catch (err) {
      return unavailableReport(`the daemon could not report its health: ${(err as Error).message}`, now());
    }
  }

  /** Time the daemon gets to answer, leaving room to send the answer. */
  private answerMs(): number {
    return Math.max(100, Math.floor((this.opts.requestTimeoutMs ?? 5_000) / 2));
  }
}

/** The request body as text, at most `max` bytes (a larger one fails the request). */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) req.destroy(new Error(`a login form larger than ${max} bytes`));
      else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(buf.length), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}
