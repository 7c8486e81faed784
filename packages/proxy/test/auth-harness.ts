import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import type { Server } from 'socket.io';
import type { Auth } from '../src/auth/create-auth.js';
import { errorMiddleware } from '../src/auth/error-middleware.js';
import type { LoginLimits } from '../src/auth/login-limiter.js';
import { redactPaths } from '../src/auth/redact.js';
import type { Database } from '../src/db/database.js';
import { startTestServer, type TestServer } from './test-server.js';

/** A movable clock for tests: never sleeps, only jumps. */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export interface AuthHarness {
  baseUrl: string;
  /** `127.0.0.1:<port>`: what a browser on the server's own origin sends as Host. */
  host: string;
  auth: Auth;
  db: Database;
  clock: TestClock;
  /** Everything the server logged so far, as pino wrote it (redaction applied). */
  logs(): string;
  /** The Socket.io server, `/client` namespace guarded by `auth.socketMiddleware`. */
  io: Server;
  /** The composed server under the harness. */
  server: TestServer;
  close(): Promise<void>;
}

/** Which database an auth harness runs on: the machine's Postgres (fresh schema), or an in-memory PGlite. */
export type AuthHarnessKind = 'postgres' | 'embedded';

/**
 * The proxy as `rclaude server` composes it ({@link startTestServer}), on a movable clock, with two probe
 * routes in front of the app (`GET /api/whoami` answers `res.locals.auth`, `POST /api/boom` throws a plain
 * Error; both behind the auth middleware) and a request logger that logs headers and bodies, like a careless
 * one would, so tests can check what redaction leaves in the log. Like the app's, it logs the path without
 * the query string.
 */
export async function startAuthHarness(options: {
  kind: AuthHarnessKind;
  /** Serve from another harness's database, Redis prefix and clock (a second proxy); it keeps them. */
  shareDatabaseWith?: AuthHarness;
  /** Use the machine's Redis (sessions, bus, login limiter) under this key prefix, as several proxies do. */
  redisPrefix?: string;
  publicOrigins?: string[];
  cookieSecure?: boolean;
  loginLimits?: Partial<LoginLimits>;
}): Promise<AuthHarness> {
  const shared = options.shareDatabaseWith;
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logText += chunk.toString('utf8');
      callback();
    },
  });
  let clockMs = Date.UTC(2030, 0, 1);
  const clock: TestClock = shared?.clock ?? {
    now: () => clockMs,
    advance: (ms) => {
      clockMs += ms;
    },
  };
  // One root logger with the redaction auth asks for, shared by the server and the careless logger.
  const logger = pino({ level: 'debug', redact: { paths: [...redactPaths] } }, sink);
  const probes = (app: express.Express) => {
    const outer = express();
    outer.use((req, res, next) => {
      res.on('finish', () => {
        logger.info(
          {
            req: { method: req.method, url: req.originalUrl.split('?')[0], headers: req.headers, body: req.body },
            status: res.statusCode,
          },
          'request',
        );
      });
      next();
    });
    // The server exists by the time a request arrives.
    const authenticate: express.RequestHandler = (req, res, next) => server.auth.middleware(req, res, next);
    outer.get('/api/whoami', authenticate, (_req, res) => {
      res.json(res.locals.auth);
    });
    outer.post('/api/boom', authenticate, () => {
      throw new Error('connection to 10.0.0.5 failed: password authentication failed for user rclaude');
    });
    outer.use(app);
    outer.use(errorMiddleware(logger));
    return outer;
  };
  const env: Record<string, string> = {
    RCLAUDE_ALLOWED_ORIGINS: (options.publicOrigins ?? []).join(','),
    RCLAUDE_COOKIE_SECURE: options.cookieSecure ? 'true' : 'false',
  };
  if (options.redisPrefix) env.RCLAUDE_REDIS_PREFIX = options.redisPrefix;
  const kind = options.kind === 'embedded' ? 'embedded' : options.redisPrefix ? 'postgres+redis' : 'postgres';
  const server: TestServer = await startTestServer(kind, {
    env,
    deps: {
      log: logger,
      now: clock.now,
      wrapApp: (app) => probes(app),
      ...(options.loginLimits ? { loginLimits: options.loginLimits } : {}),
    },
    ...(shared ? { shareStateWith: shared.server } : {}),
  });
  const { port } = new URL(server.url);

  return {
    baseUrl: server.url,
    host: `127.0.0.1:${port}`,
    auth: server.auth,
    db: server.stores.db,
    clock,
    logs: () => logText,
    io: server.io,
    server,
    close: () => server.close(),
  };
}

/** A response as the tests look at it: status, headers, and the body parsed as JSON when it is JSON. */
export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into bodies freely
  body: any;
}

/**
 * One HTTP request to a harness. `body` is sent as JSON; `rawBody` as-is with a JSON content type
 * (for malformed JSON). `token` goes in a Bearer header, `cookie` and `csrf` in theirs.
 */
export async function request(
  h: AuthHarness,
  method: string,
  path: string,
  options: {
    token?: string;
    cookie?: string;
    csrf?: string;
    origin?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  if (options.origin !== undefined) headers.origin = options.origin;
  let payload: string | undefined;
  if (options.rawBody !== undefined) payload = options.rawBody;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${h.baseUrl}${path}`, { method, headers, body: payload });
  const text = await res.text();
  let body: unknown = null;
  if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, body };
}
