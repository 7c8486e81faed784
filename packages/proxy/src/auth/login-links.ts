import { AppError, type LoginLink, type LoginLinkRefusal } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { LOGIN_LINK_PREFIX, randomSecret, sha256Hex } from './crypto.js';
import { type Queryable, textCol, timeCol, timeOrNullCol } from './queryable.js';

const LINK_TOKEN_PATTERN = /^rcl_[A-Za-z0-9_-]{43}$/;
/** Used and expired links are kept this long after expiring, so a late click hears "used" or "expired". */
const KEEP_AFTER_EXPIRY_MS = 24 * 3600_000;

/** What a login link token stands for right now. */
export type LoginLinkState =
  | { state: 'valid'; userId: string }
  | { state: LoginLinkRefusal['reason']; userId: string | null };

/**
 * One-time login links: a random token, stored only as its sha256, that signs a browser in once within
 * `ttlMs`. It exists so a sign-in link never carries a permanent credential: one copied into a log, a
 * chat or the browser history is worthless after its first use or ten minutes, whichever comes first.
 */
export interface LoginLinkService {
  /** How long a new link works, in ms. */
  readonly ttlMs: number;
  issue(userId: string): Promise<LoginLink>;
  /** Whether `token` would sign in now, and as whom; does not use it up. */
  inspect(token: string): Promise<LoginLinkState>;
  /**
   * Uses `token` up and returns its user. Two browsers racing on one link: exactly one wins. Refused
   * (UNAUTHENTICATED, `details.reason` used, expired or invalid) when it does not work.
   */
  consume(token: string): Promise<string>;
}

/** The UNAUTHENTICATED error for a link that does not work, with a message a person can act on. */
export function loginLinkRefused(reason: LoginLinkRefusal['reason']): AppError {
  const message = {
    used: 'this sign-in link was already used; sign in, or ask for a new link with `rclaude web`',
    expired: 'this sign-in link has expired; sign in, or ask for a new link with `rclaude web`',
    invalid: 'this is not a valid sign-in link; sign in, or ask for a new link with `rclaude web`',
  }[reason];
  return new AppError('UNAUTHENTICATED', message, { details: { reason } satisfies LoginLinkRefusal });
}

export function createLoginLinkService(deps: {
  db: Queryable;
  ttlMs: number;
  logger: Logger;
  now: () => number;
}): LoginLinkService {
  const { db, ttlMs, logger, now } = deps;

  async function inspect(token: string): Promise<LoginLinkState> {
    if (!LINK_TOKEN_PATTERN.test(token)) return { state: 'invalid', userId: null };
    const { rows } = await db.query('SELECT user_id, expires_at, used_at FROM login_links WHERE token_hash = $1', [
      sha256Hex(token),
    ]);
    const row = rows[0];
    if (!row) return { state: 'invalid', userId: null };
    const userId = textCol(row, 'user_id');
    if (timeOrNullCol(row, 'used_at')) return { state: 'used', userId };
    if (timeCol(row, 'expires_at').getTime() <= now()) return { state: 'expired', userId };
    return { state: 'valid', userId };
  }

  return {
    ttlMs,

    async issue(userId) {
      const at = now();
      await db.query('DELETE FROM login_links WHERE expires_at <= $1', [new Date(at - KEEP_AFTER_EXPIRY_MS)]);
      const token = `${LOGIN_LINK_PREFIX}${randomSecret()}`;
      const expiresAt = new Date(at + ttlMs);
      await db.query('INSERT INTO login_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [
        sha256Hex(token),
        userId,
        new Date(at),
        expiresAt,
      ]);
      logger.info({ userId, expiresAt: expiresAt.toISOString() }, 'login link issued');
      return { token, expiresAt: expiresAt.toISOString() };
    },

    inspect,

    async consume(token) {
      if (!LINK_TOKEN_PATTERN.test(token)) throw loginLinkRefused('invalid');
      const at = new Date(now());
      // One statement decides: a second use (or a race) finds used_at set and changes nothing.
      const { rows } = await db.query(
        `UPDATE login_links SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id`,
        [sha256Hex(token), at],
      );
      const row = rows[0];
      if (row) {
        const userId = textCol(row, 'user_id');
        logger.info({ userId }, 'login link used');
        return userId;
      }
      const why = await inspect(token);
      throw loginLinkRefused(why.state === 'valid' ? 'used' : why.state);
    },
  };
}
