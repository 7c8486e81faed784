import type { IncomingHttpHeaders } from 'node:http';
import { AppError, type LoginLink, type User } from '@rclaude/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createUserAllowHostService } from '../egress/user-allow-hosts.js';
import type { AuthContext } from '../http/context.js';
import { createApiTokenService } from './api-tokens.js';
import { createBrowserSessionService, SESSION_COOKIE } from './browser-sessions.js';
import { createBrowserSignIn } from './browser-sign-in.js';
import { readCookie } from './cookies.js';
import { deriveServerKeys } from './crypto.js';
import { createLoginService } from './login.js';
import { createLoginLimiter, defaultLoginLimits, type LoginLimits } from './login-limiter.js';
import { createLoginLinkService } from './login-links.js';
import { type AuthMiddleware, createAuthMiddleware } from './middleware.js';
import { createOriginCheck, normaliseOrigins, type OriginCheck } from './origin.js';
import { createPasswordHasher } from './passwords.js';
import type { Queryable } from './queryable.js';
import { redactPaths } from './redact.js';
import { type AuthHandlers, createAuthHandlers } from './routes.js';
import { createSecretService } from './secrets.js';
import { createSocketAuthMiddleware, type SocketAuthMiddleware } from './socket-middleware.js';
import { createUserService } from './users.js';

export interface AuthDeps {
  /** pg Pool (or PGlite behind the same interface) with migration 002-accounts applied. */
  db: Queryable;
  /** Shares the login rate limiter across proxies; null keeps it in this process. */
  redis: Redis | null;
  logger: Logger;
  /** 32 bytes, from loadOrCreateSecretKey. Encrypts secrets and derives CSRF tokens. */
  secretKey: Buffer;
  /** Browser origins allowed besides the server's own (RCLAUDE_ALLOWED_ORIGINS), e.g. a dev server. */
  publicOrigins: readonly string[];
  /** Marks the session cookie Secure (serve over https). */
  cookieSecure: boolean;
  /** Clock in ms since the epoch; tests move it instead of sleeping. */
  now?: () => number;
  /** Prefix of the limiter's Redis keys; default `rclaude:`. Tests give each run its own. */
  redisKeyPrefix?: string;
  /** Browser session lifetime in ms; default 7 days. */
  sessionTtlMs?: number;
  /** How long a login link works, in ms; default 10 minutes. */
  loginLinkTtlMs?: number;
  loginLimits?: Partial<LoginLimits>;
}

/** Everything the proxy needs from accounts and security; see docs/security.md. */
export interface Auth {
  /** Mount on `/api` before every other `/api` route: `app.use('/api', auth.middleware)`. */
  middleware: AuthMiddleware;
  /** Handlers of the account routes; mount them after the middleware with `mountRoutes`. */
  handlers: AuthHandlers;
  /** `io.of('/client').use(auth.socketMiddleware)`; sets `socket.data.auth`. */
  socketMiddleware: SocketAuthMiddleware;
  /** Creates user `admin` (no password) on first start; idempotent, safe when proxies start together. */
  ensureAdmin(): Promise<User>;
  /** A new API token for `userId` (e.g. the local CLIs' in server.json); shown once, stored hashed. */
  issueToken(userId: string, name: string): Promise<string>;
  /** A one-time login link token for `userId` (what `rclaude server` prints in a terminal). */
  issueLoginLink(userId: string): Promise<LoginLink>;
  /** Who holds an API token, or null. */
  verifyToken(token: string): Promise<AuthContext | null>;
  /**
   * Who is behind an HTTP upgrade that is not Socket.io (a tunnel): `Authorization: Bearer <token>`, or the
   * browser session cookie; a foreign Origin is refused first. Throws UNAUTHENTICATED or ORIGIN_REFUSED.
   */
  authenticateUpgrade(headers: IncomingHttpHeaders): Promise<AuthContext>;
  secrets: {
    /** The user's secrets, decrypted, as environment variables for their sandboxes. */
    forSandbox(userId: string): Promise<Record<string, string>>;
  };
  allowHosts: {
    /** The user's own additions to the egress allow-list (`rclaude allow-host`), checked when added. */
    forUser(userId: string): Promise<string[]>;
  };
  /** Give these to pino: `pino({ redact: { paths: [...auth.redactPaths] } })`. */
  redactPaths: readonly string[];
  /** Whether a browser Origin may talk to this server (its own, or RCLAUDE_ALLOWED_ORIGINS): for share links. */
  originAllowed: OriginCheck;
}

const DEFAULT_SESSION_TTL_MS = 7 * 24 * 3600_000;
const DEFAULT_LOGIN_LINK_TTL_MS = 10 * 60_000;

/** Composes accounts, tokens, login links, browser sessions, secrets and the login limiter. Starts no timers. */
export function createAuth(deps: AuthDeps): Auth {
  const now = deps.now ?? Date.now;
  const logger = deps.logger.child({ component: 'auth' });
  const keys = deriveServerKeys(deps.secretKey);
  const originAllowed = createOriginCheck(normaliseOrigins(deps.publicOrigins));
  const passwords = createPasswordHasher();
  const users = createUserService({ db: deps.db, passwords, logger, now });
  const tokens = createApiTokenService({ db: deps.db, logger, now });
  const links = createLoginLinkService({
    db: deps.db,
    ttlMs: deps.loginLinkTtlMs ?? DEFAULT_LOGIN_LINK_TTL_MS,
    logger,
    now,
  });
  const sessions = createBrowserSessionService({
    db: deps.db,
    users,
    csrfKey: keys.csrfKey,
    ttlMs: deps.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    logger,
    now,
  });
  const secrets = createSecretService({ db: deps.db, keys, logger, now });
  const allowHosts = createUserAllowHostService({ db: deps.db, logger, now });
  const limiter = createLoginLimiter({
    redis: deps.redis,
    keyPrefix: deps.redisKeyPrefix ?? 'rclaude:',
    limits: { ...defaultLoginLimits, ...deps.loginLimits },
    now,
  });
  const login = createLoginService({ users, tokens, passwords, limiter, logger });
  const signIn = createBrowserSignIn({ links, login, sessions, users });

  return {
    middleware: createAuthMiddleware({ tokens, sessions, originAllowed }),
    handlers: createAuthHandlers({
      login,
      signIn,
      links,
      users,
      tokens,
      sessions,
      secrets,
      allowHosts,
      cookieSecure: deps.cookieSecure,
    }),
    socketMiddleware: createSocketAuthMiddleware({
      tokens,
      sessions,
      originAllowed,
      onError: (err) => logger.error({ err }, 'socket authentication failed'),
    }),
    ensureAdmin: () => users.ensureAdmin(),
    issueToken: async (userId, name) => (await tokens.issue(userId, name)).token,
    issueLoginLink: (userId) => links.issue(userId),
    verifyToken: (token) => tokens.verify(token),
    authenticateUpgrade: async (headers) => {
      if (headers.origin !== undefined && !originAllowed(headers.origin, headers.host)) {
        throw new AppError('ORIGIN_REFUSED', `requests from ${headers.origin} are not allowed`);
      }
      if (headers.authorization !== undefined) {
        const match = /^Bearer +(\S+) *$/i.exec(headers.authorization);
        const ctx = match?.[1] ? await tokens.verify(match[1]) : null;
        if (!ctx)
          throw new AppError('UNAUTHENTICATED', 'the token is not valid (revoked or mistyped?); run `rclaude login`');
        return ctx;
      }
      const sessionId = readCookie(headers.cookie, SESSION_COOKIE);
      const ctx = sessionId === null ? null : await sessions.verify(sessionId);
      if (!ctx) throw new AppError('UNAUTHENTICATED', 'sign in first: run `rclaude login` or open the login URL');
      return ctx;
    },
    secrets: { forSandbox: (userId) => secrets.forSandbox(userId) },
    allowHosts: { forUser: (userId) => allowHosts.forUser(userId) },
    redactPaths,
    originAllowed,
  };
}
