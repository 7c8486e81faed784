import { type AllowHost, AppError, MAX_USER_ALLOW_HOSTS } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { type Queryable, textCol, timeCol } from '../auth/queryable.js';
import type { AuthContext } from '../http/context.js';
import { allowHostErrors } from './allow-list.js';

/**
 * Each user's own additions to the egress allow-list (`rclaude allow-host`, the web Settings page): host names
 * and `*.` patterns with an optional port, checked like `rclaude run --allow-host`. Every caller sees and
 * changes only their own list, admins included. The egress gateway reads the owner's list when it accepts a
 * tunnel ({@link UserAllowHostService.forUser}), so a change applies to the next connection a sandbox opens.
 */
export interface UserAllowHostService {
  list(actor: AuthContext): Promise<AllowHost[]>;
  /** Adds an entry (stored in lower case); adding one already there answers it unchanged. */
  add(actor: AuthContext, host: string): Promise<AllowHost>;
  /** NOT_FOUND when the entry is not on the caller's list. */
  remove(actor: AuthContext, host: string): Promise<void>;
  /** The entries of `userId`'s list, for the egress gateway. */
  forUser(userId: string): Promise<string[]>;
}

/** The stored form of an entry: trimmed, lower case (host names compare without case). */
function normalize(host: string): string {
  return host.trim().toLowerCase();
}

function rowToAllowHost(row: Record<string, unknown>): AllowHost {
  return { host: textCol(row, 'host'), addedAt: timeCol(row, 'created_at').toISOString() };
}

export function createUserAllowHostService(deps: {
  db: Queryable;
  logger: Logger;
  now: () => number;
}): UserAllowHostService {
  const { db, logger, now } = deps;
  return {
    async list(actor) {
      const { rows } = await db.query(
        'SELECT host, created_at FROM user_allow_hosts WHERE user_id = $1 ORDER BY host',
        [actor.userId],
      );
      return rows.map(rowToAllowHost);
    },

    async add(actor, given) {
      const host = normalize(given);
      const errors = allowHostErrors([host], 'your allow-list');
      if (host.length === 0) errors.push('name a host, e.g. registry.example.com or *.example.com:8443');
      if (errors.length > 0) {
        throw new AppError('BAD_REQUEST', `host refused: ${errors.join('; ')}`, { details: { errors } });
      }
      // One statement: the cap holds even when two adds race.
      const { rows } = await db.query(
        `INSERT INTO user_allow_hosts (user_id, host, created_at)
         SELECT $1, $2, $3
         WHERE (SELECT count(*) FROM user_allow_hosts WHERE user_id = $1) < $4
         ON CONFLICT (user_id, host) DO NOTHING
         RETURNING host, created_at`,
        [actor.userId, host, new Date(now()), MAX_USER_ALLOW_HOSTS],
      );
      if (rows[0]) {
        logger.info({ userId: actor.userId, host }, 'egress allow-list entry added');
        return rowToAllowHost(rows[0]);
      }
      const existing = await db.query(
        'SELECT host, created_at FROM user_allow_hosts WHERE user_id = $1 AND host = $2',
        [actor.userId, host],
      );
      if (existing.rows[0]) return rowToAllowHost(existing.rows[0]);
      throw new AppError(
        'CONFLICT',
        `your allow-list holds ${MAX_USER_ALLOW_HOSTS} hosts already: remove one first (rclaude allow-host rm HOST), or use a *.pattern`,
      );
    },

    async remove(actor, given) {
      const host = normalize(given);
      const { rows } = await db.query('DELETE FROM user_allow_hosts WHERE user_id = $1 AND host = $2 RETURNING host', [
        actor.userId,
        host,
      ]);
      if (!rows[0]) throw new AppError('NOT_FOUND', `${host} is not on your allow-list (see rclaude allow-host ls)`);
      logger.info({ userId: actor.userId, host }, 'egress allow-list entry removed');
    },

    async forUser(userId) {
      const { rows } = await db.query('SELECT host FROM user_allow_hosts WHERE user_id = $1', [userId]);
      return rows.map((row) => textCol(row, 'host'));
    },
  };
}
