import { AppError, type BrowserSessionResponse } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../http/context.js';
import { hmacBase64url, randomSecret, safeEqual, sha256Hex } from './crypto.js';
import { type Queryable, textCol } from './queryable.js';
import type { UserService } from './users.js';

/** Name of the httpOnly cookie holding a browser session id. */
export const SESSION_COOKIE = 'rclaude_session';
/** Header carrying the CSRF token on every cookie-authenticated request that is not GET or HEAD. */
export const CSRF_HEADER = 'x-csrf-token';

const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Browser sessions: a random id in an httpOnly SameSite=Strict cookie, stored only as its sha256, with an
 * absolute expiry. The CSRF token is an HMAC of the session id under a server key, so it needs no storage,
 * cannot be guessed without the cookie, and dies with the session.
 */
export interface BrowserSessionService {
  /** How long a browser session lives, in ms (also the cookie's Max-Age). */
  readonly ttlMs: number;
  /**
   * A new session for `userId`, who has just proven who they are (a login link, a password). `replacing`
   * is the browser's previous session id, ended here so a sign-in never leaves two behind.
   */
  start(userId: string, replacing: string | null): Promise<{ sessionId: string } & BrowserSessionResponse>;
  /** Who holds the session, or null when it is malformed, unknown or expired. */
  verify(sessionId: string): Promise<AuthContext | null>;
  /** The user and CSRF token for an existing session (what the web app asks for on load). */
  describe(actor: AuthContext, sessionId: string | null): Promise<BrowserSessionResponse>;
  /** True when `header` is the session's CSRF token. */
  checkCsrf(sessionId: string, header: string | undefined): boolean;
  /** Ends the session (idempotent). */
  end(sessionId: string | null): Promise<void>;
}

export function createBrowserSessionService(deps: {
  db: Queryable;
  users: UserService;
  csrfKey: Buffer;
  ttlMs: number;
  logger: Logger;
  now: () => number;
}): BrowserSessionService {
  const { db, users, csrfKey, ttlMs, logger, now } = deps;
  const csrfFor = (sessionId: string) => hmacBase64url(csrfKey, `csrf:${sessionId}`);

  return {
    ttlMs,

    async start(userId, replacing) {
      const user = await users.get(userId);
      const at = now();
      await db.query('DELETE FROM browser_sessions WHERE expires_at <= $1', [new Date(at)]);
      if (replacing !== null) await db.query('DELETE FROM browser_sessions WHERE id_hash = $1', [sha256Hex(replacing)]);
      const sessionId = randomSecret();
      await db.query(
        'INSERT INTO browser_sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [sha256Hex(sessionId), user.id, new Date(at), new Date(at + ttlMs)],
      );
      logger.info({ userId: user.id }, 'browser session started');
      return { sessionId, user, csrfToken: csrfFor(sessionId) };
    },

    async verify(sessionId) {
      if (!SESSION_ID_PATTERN.test(sessionId)) return null;
      const { rows } = await db.query(
        `SELECT u.id, u.username, u.role FROM browser_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2`,
        [sha256Hex(sessionId), new Date(now())],
      );
      const row = rows[0];
      if (!row) return null;
      return {
        userId: textCol(row, 'id'),
        username: textCol(row, 'username'),
        role: textCol(row, 'role') === 'admin' ? 'admin' : 'user',
        via: 'cookie',
      };
    },

    async describe(actor, sessionId) {
      if (actor.via !== 'cookie' || sessionId === null) {
        throw new AppError('UNAUTHENTICATED', 'no browser session: sign in from the web app');
      }
      return { user: await users.me(actor), csrfToken: csrfFor(sessionId) };
    },

    checkCsrf(sessionId, header) {
      return header !== undefined && safeEqual(header, csrfFor(sessionId));
    },

    async end(sessionId) {
      if (sessionId === null) return;
      await db.query('DELETE FROM browser_sessions WHERE id_hash = $1', [sha256Hex(sessionId)]);
    },
  };
}
