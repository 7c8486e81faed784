import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Server } from 'socket.io';
import type { Database } from '../db/database.js';
import { createTestDatabase, type TestDatabaseKind } from '../db/test-database.js';
import { mountRoutes, routesTagged } from '../http/mount-routes.js';
import { type Auth, type AuthDeps, createAuth } from './create-auth.js';
import { errorMiddleware } from './error-middleware.js';
import { redactPaths } from './redact.js';

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
  close(): Promise<void>;
}

/**
 * A small server for auth tests: a migrated database (fresh Postgres schema or in-memory PGlite), the
 * auth middleware and router on /api, two probe routes (`GET /api/whoami` answers `res.locals.auth`,
 * `POST /api/boom` throws a plain Error), the error middleware, and a request logger that logs headers
 * and bodies, like a careless one would, so tests can check what redaction leaves in the log. Like the
 * app's, it logs the path without the query string.
 */
export async function startAuthHarness(options: {
  kind: TestDatabaseKind;
  /** Serve from another harness's database (a second proxy); this harness then leaves it open. */
  shareDatabaseWith?: AuthHarness;
  redis?: Redis | null;
  redisKeyPrefix?: string;
  publicOrigins?: string[];
  cookieSecure?: boolean;
  loginLimits?: AuthDeps['loginLimits'];
}): Promise<AuthHarness> {
  const shared = options.shareDatabaseWith;
  const db = shared ? shared.db : await createTestDatabase(options.kind);
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
  // The logger main.ts builds: one root logger with the redaction auth asks for.
  const logger = pino({ level: 'debug', redact: { paths: [...redactPaths] } }, sink);
  const auth = createAuth({
    db: db.pool,
    redis: options.redis ?? null,
    redisKeyPrefix: options.redisKeyPrefix,
    logger,
    secretKey: Buffer.alloc(32, 7),
    publicOrigins: options.publicOrigins ?? [],
    cookieSecure: options.cookieSecure ?? false,
    now: clock.now,
    loginLimits: options.loginLimits,
  });

  const app = express();
  app.use((req, res, next) => {
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
  app.use('/api', auth.middleware);
  mountRoutes(app, routesTagged('accounts'), auth.handlers);
  app.get('/api/whoami', (_req, res) => {
    res.json(res.locals.auth);
  });
  app.post('/api/boom', () => {
    throw new Error('connection to 10.0.0.5 failed: password authentication failed for user rclaude');
  });
  app.use(errorMiddleware(logger));

  const server = http.createServer(app);
  const io = new Server(server);
  io.of('/client').use(auth.socketMiddleware);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    auth,
    db,
    clock,
    logs: () => logText,
    io,
    async close() {
      // io.close() also closes the HTTP server; dropping idle keep-alive connections lets that finish.
      server.closeAllConnections();
      await io.close();
      if (!shared) await db.close();
    },
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
