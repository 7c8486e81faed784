import { type ApiToken, AppError } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../http/context.js';
import { newId } from '../services/ids.js';
import { API_TOKEN_PREFIX, randomSecret, sha256Hex } from './crypto.js';
import { type Queryable, textCol, timeCol, timeOrNullCol } from './queryable.js';

/** Characters of a token kept in the clear (`rct_` and 6 more), to recognise it in a list. */
const SHOWN_PREFIX_LENGTH = API_TOKEN_PREFIX.length + 6;
/** `last_used_at` is rewritten at most this often per token, so busy clients do not write on every call. */
const LAST_USED_RESOLUTION_MS = 60_000;
const TOKEN_PATTERN = /^rct_[A-Za-z0-9_-]{43}$/;

export interface ApiTokenService {
  /** Creates a token for `userId`; the only time the token itself exists outside the caller's hands. */
  issue(userId: string, name: string): Promise<{ token: string; info: ApiToken }>;
  /** Who holds `token`, or null when it is malformed, unknown or revoked. Records the time of use. */
  verify(token: string): Promise<AuthContext | null>;
  list(actor: AuthContext): Promise<ApiToken[]>;
  /** Deletes one of the caller's tokens; another user's token is NOT_FOUND, like a missing one. */
  revoke(actor: AuthContext, tokenId: string): Promise<void>;
}

function toInfo(row: Record<string, unknown>): ApiToken {
  return {
    id: textCol(row, 'id'),
    name: textCol(row, 'name'),
    prefix: textCol(row, 'prefix'),
    createdAt: timeCol(row, 'created_at').toISOString(),
    lastUsedAt: timeOrNullCol(row, 'last_used_at')?.toISOString() ?? null,
  };
}

export function createApiTokenService(deps: { db: Queryable; logger: Logger; now: () => number }): ApiTokenService {
  const { db, logger, now } = deps;
  return {
    async issue(userId, name) {
      const token = `${API_TOKEN_PREFIX}${randomSecret()}`;
      const { rows } = await db.query(
        `INSERT INTO api_tokens (id, user_id, name, prefix, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, prefix, created_at, last_used_at`,
        [newId(12), userId, name, token.slice(0, SHOWN_PREFIX_LENGTH), sha256Hex(token), new Date(now())],
      );
      if (!rows[0])
        throw new AppError('INTERNAL', 'internal error', { cause: new Error('token insert returned nothing') });
      const info = toInfo(rows[0]);
      logger.info({ userId, tokenId: info.id, prefix: info.prefix }, 'API token issued');
      return { token, info };
    },

    async verify(token) {
      if (!TOKEN_PATTERN.test(token)) return null;
      const { rows } = await db.query(
        `SELECT t.id, t.last_used_at, u.id AS user_id, u.username, u.role
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1`,
        [sha256Hex(token)],
      );
      const row = rows[0];
      if (!row) return null;
      const at = now();
      const lastUsed = timeOrNullCol(row, 'last_used_at');
      if (!lastUsed || at - lastUsed.getTime() >= LAST_USED_RESOLUTION_MS) {
        await db.query('UPDATE api_tokens SET last_used_at = $2 WHERE id = $1', [textCol(row, 'id'), new Date(at)]);
      }
      return {
        userId: textCol(row, 'user_id'),
        username: textCol(row, 'username'),
        role: textCol(row, 'role') === 'admin' ? 'admin' : 'user',
        via: 'token',
      };
    },

    async list(actor) {
      const { rows } = await db.query(
        `SELECT id, name, prefix, created_at, last_used_at FROM api_tokens
         WHERE user_id = $1 ORDER BY created_at, id`,
        [actor.userId],
      );
      return rows.map(toInfo);
    },

    async revoke(actor, tokenId) {
      const { rows } = await db.query('DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING id', [
        tokenId,
        actor.userId,
      ]);
      if (!rows[0]) throw new AppError('NOT_FOUND', 'no such token');
      logger.info({ userId: actor.userId, tokenId }, 'API token revoked');
    },
  };
}
