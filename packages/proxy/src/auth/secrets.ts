import { AppError, type SecretInfo } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../http/context.js';
import { open, type ServerKeys, seal } from './crypto.js';
import { bytesCol, type Queryable, textCol, timeCol } from './queryable.js';

/**
 * Per-user secrets (ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN, ...), AES-256-GCM encrypted at rest.
 * Values go in through `put` and out only through `forSandbox`; no API answer and no log line carries one.
 */
export interface SecretService {
  list(actor: AuthContext): Promise<SecretInfo[]>;
  put(actor: AuthContext, name: string, value: string): Promise<SecretInfo>;
  /** NOT_FOUND when the caller has no secret of that name. */
  remove(actor: AuthContext, name: string): Promise<void>;
  /** Every secret of `userId`, decrypted, as environment variables for that user's sandboxes. */
  forSandbox(userId: string): Promise<Record<string, string>>;
}

/** Binds a ciphertext to its owner and name (GCM additional data). */
function aadFor(userId: string, name: string): string {
  return `rclaude-secret\u0000${userId}\u0000${name}`;
}

export function createSecretService(deps: {
  db: Queryable;
  keys: ServerKeys;
  logger: Logger;
  now: () => number;
}): SecretService {
  const { db, keys, logger, now } = deps;
  return {
    async list(actor) {
      const { rows } = await db.query('SELECT name, updated_at FROM user_secrets WHERE user_id = $1 ORDER BY name', [
        actor.userId,
      ]);
      return rows.map((row) => ({ name: textCol(row, 'name'), updatedAt: timeCol(row, 'updated_at').toISOString() }));
    },

    async put(actor, name, value) {
      const sealed = seal(keys, value, aadFor(actor.userId, name));
      const at = new Date(now());
      await db.query(
        `INSERT INTO user_secrets (user_id, name, key_id, nonce, ciphertext, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (user_id, name) DO UPDATE
           SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
               updated_at = EXCLUDED.updated_at`,
        [actor.userId, name, sealed.keyId, sealed.nonce, sealed.ciphertext, at],
      );
      logger.info({ userId: actor.userId, secretName: name }, 'secret stored');
      return { name, updatedAt: at.toISOString() };
    },

    async remove(actor, name) {
      const { rows } = await db.query('DELETE FROM user_secrets WHERE user_id = $1 AND name = $2 RETURNING name', [
        actor.userId,
        name,
      ]);
      if (!rows[0]) throw new AppError('NOT_FOUND', `no secret named ${name}`);
      logger.info({ userId: actor.userId, secretName: name }, 'secret deleted');
    },

    async forSandbox(userId) {
      const { rows } = await db.query('SELECT name, key_id, nonce, ciphertext FROM user_secrets WHERE user_id = $1', [
        userId,
      ]);
      const env: Record<string, string> = {};
      for (const row of rows) {
        const name = textCol(row, 'name');
        try {
          env[name] = open(
            keys,
            { keyId: textCol(row, 'key_id'), nonce: bytesCol(row, 'nonce'), ciphertext: bytesCol(row, 'ciphertext') },
            aadFor(userId, name),
          );
        } catch (error) {
          throw new AppError(
            'INTERNAL',
            `the stored secret ${name} cannot be decrypted with this server's key (was RCLAUDE_SECRET_KEY changed?); store it again`,
            { cause: error },
          );
        }
      }
      return env;
    },
  };
}
