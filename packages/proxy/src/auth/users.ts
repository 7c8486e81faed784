import { AppError, type User, type UserRole } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../http/context.js';
import { newId } from '../services/ids.js';
import { requireAdmin } from './access.js';
import type { PasswordHasher } from './passwords.js';
import { type Queryable, textCol, textOrNullCol, timeCol } from './queryable.js';

/** A user with the stored password hash (null: no password set, sign-in only by token). */
export interface UserRecord extends User {
  passwordHash: string | null;
}

export interface UserService {
  /** Creates `admin` (no password) if missing; safe when several proxies start at once. */
  ensureAdmin(): Promise<User>;
  create(actor: AuthContext, input: { username: string; password: string; role: UserRole }): Promise<User>;
  list(actor: AuthContext): Promise<User[]>;
  /** The caller's own record; UNAUTHENTICATED if the user no longer exists. */
  me(actor: AuthContext): Promise<User>;
  /** A user by id (one who just signed in); UNAUTHENTICATED if the user no longer exists. */
  get(userId: string): Promise<User>;
  /** Admins may set anyone's password, users only their own. */
  setPassword(actor: AuthContext, userId: string, password: string): Promise<void>;
  findByUsername(username: string): Promise<UserRecord | null>;
}

const COLUMNS = 'id, username, role, password_hash, created_at';

function toRecord(row: Record<string, unknown>): UserRecord {
  const role = textCol(row, 'role');
  return {
    id: textCol(row, 'id'),
    username: textCol(row, 'username'),
    role: role === 'admin' ? 'admin' : 'user',
    createdAt: timeCol(row, 'created_at').toISOString(),
    passwordHash: textOrNullCol(row, 'password_hash'),
  };
}

export function toUser(record: UserRecord): User {
  return { id: record.id, username: record.username, role: record.role, createdAt: record.createdAt };
}

export function createUserService(deps: {
  db: Queryable;
  passwords: PasswordHasher;
  logger: Logger;
  now: () => number;
}): UserService {
  const { db, passwords, logger, now } = deps;

  async function getById(id: string): Promise<UserRecord | null> {
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async function findByUsername(username: string): Promise<UserRecord | null> {
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM users WHERE username = $1`, [username]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async function get(userId: string): Promise<User> {
    const record = await getById(userId);
    if (!record) throw new AppError('UNAUTHENTICATED', 'this account no longer exists; sign in again');
    return toUser(record);
  }

  return {
    findByUsername,

    async ensureAdmin() {
      const at = new Date(now());
      const { rows } = await db.query(
        `INSERT INTO users (id, username, role, password_hash, created_at, updated_at)
         VALUES ($1, 'admin', 'admin', NULL, $2, $2)
         ON CONFLICT (username) DO NOTHING
         RETURNING ${COLUMNS}`,
        [newId(12), at],
      );
      if (rows[0]) {
        logger.info({ userId: rows[0].id }, 'created the admin user');
        return toUser(toRecord(rows[0]));
      }
      const existing = await findByUsername('admin');
      if (!existing) throw new AppError('INTERNAL', 'internal error', { cause: new Error('admin vanished') });
      return toUser(existing);
    },

    async create(actor, input) {
      requireAdmin(actor, 'create users');
      const passwordHash = await passwords.hash(input.password);
      const at = new Date(now());
      const { rows } = await db.query(
        `INSERT INTO users (id, username, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (username) DO NOTHING
         RETURNING ${COLUMNS}`,
        [newId(12), input.username, input.role, passwordHash, at],
      );
      if (!rows[0]) throw new AppError('CONFLICT', `a user named ${input.username} already exists`);
      const user = toUser(toRecord(rows[0]));
      logger.info({ userId: user.id, username: user.username, role: user.role, by: actor.userId }, 'user created');
      return user;
    },

    async list(actor) {
      requireAdmin(actor, 'list users');
      const { rows } = await db.query(`SELECT ${COLUMNS} FROM users ORDER BY created_at, username`);
      return rows.map((row) => toUser(toRecord(row)));
    },

    me: (actor) => get(actor.userId),
    get,

    async setPassword(actor, userId, password) {
      if (actor.role !== 'admin' && actor.userId !== userId) {
        throw new AppError('FORBIDDEN', 'you can only change your own password');
      }
      const passwordHash = await passwords.hash(password);
      const { rows } = await db.query(
        'UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 RETURNING id',
        [userId, passwordHash, new Date(now())],
      );
      if (!rows[0]) throw new AppError('NOT_FOUND', 'no such user');
      logger.info({ userId, by: actor.userId }, 'password changed');
    },
  };
}
