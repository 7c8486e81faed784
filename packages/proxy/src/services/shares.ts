import {
  AppError,
  type CreateShareResponse,
  type DriveDecision,
  type DriveRequest,
  SHARE_MAX_ACTIVE_PER_TASK,
  SHARE_MAX_DRIVE_REQUESTS_PER_USER,
  SHARE_MAX_OPEN_DRIVE_REQUESTS,
  SHARE_VIEW_MAX_EVENTS,
  type Share,
  type ShareKind,
  type ShareRefusal,
  type ShareView,
  shareableEvent,
  shareIdSchema,
  shareSecretSchema,
  type Task,
  type TaskEventType,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import { randomSecret, safeEqual, sha256Hex } from '../auth/crypto.js';
import { type Queryable, textCol, textOrNullCol, timeCol, timeOrNullCol } from '../auth/queryable.js';
import type { TaskStore } from '../stores/types.js';
import type { AuthContext } from './auth-context.js';
import { newId } from './ids.js';

/** A share link that works right now, with its task. */
export interface VerifiedShare {
  id: string;
  kind: ShareKind;
  expiresAt: Date;
  task: Task;
}

/** A link's live viewers (realtime/share-gateway.ts implements it with the sockets of its room). */
export interface ShareViewers {
  /** Cuts off the link's live viewers, on every proxy. */
  revoked(shareId: string): void;
  /** How many viewers are connected through the link, over every proxy. */
  count(shareId: string): Promise<number>;
  /**
   * A drive request was made or decided: tell the owner's clients and the asker's sockets, and give or take
   * the asker's live sockets on the link the right to type (at once, on every proxy).
   */
  driveChanged(request: DriveRequest, to: { userId: string; mainSessionId: string }): Promise<void>;
}

/** The UNAUTHENTICATED error for a share link that does not work, with `details.reason`. */
export function shareRefused(reason: ShareRefusal['reason']): AppError {
  const message = {
    expired: 'this share link has expired; ask its owner for a new one',
    revoked: 'this share link was revoked by its owner',
    invalid: 'this is not a valid share link',
  }[reason];
  return new AppError('UNAUTHENTICATED', message, { details: { reason } satisfies ShareRefusal });
}

/** sha256 of a share secret, hex: what the table stores. */
export function hashShareSecret(secret: string): string {
  return sha256Hex(secret);
}

/** Whether `secret` hashes to `storedHex`, in time that does not depend on where they differ. */
export function shareSecretMatches(secret: string, storedHex: string): boolean {
  return safeEqual(sha256Hex(secret), storedHex);
}

/** The state of a link at `now`: revocation wins over expiry. */
export function shareState(row: { expiresAt: Date; revokedAt: Date | null }, now: number): Share['state'] {
  if (row.revokedAt) return 'revoked';
  return row.expiresAt.getTime() <= now ? 'expired' : 'active';
}

/** `<public url>/share/<id>#<secret>`: the secret after `#` never reaches a server log or a Referer. */
export function shareUrl(publicUrl: string, id: string, secret: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/share/${id}#${secret}`;
}

interface ShareRow {
  id: string;
  taskId: string;
  createdBy: string;
  kind: ShareKind;
  secretHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

function rowOf(row: Record<string, unknown>): ShareRow {
  return {
    id: textCol(row, 'id'),
    taskId: textCol(row, 'task_id'),
    createdBy: textCol(row, 'created_by'),
    kind: textCol(row, 'kind') === 'drive' ? 'drive' : 'view',
    secretHash: textCol(row, 'secret_hash'),
    createdAt: timeCol(row, 'created_at'),
    expiresAt: timeCol(row, 'expires_at'),
    revokedAt: timeOrNullCol(row, 'revoked_at'),
    lastUsedAt: timeOrNullCol(row, 'last_used_at'),
  };
}

const DRIVE_COLUMNS = 'id, share_id, task_id, user_id, username, state, created_at, decided_at, decided_by';

/** A drive request with the asker's user id (which the API never shows). */
interface DriveRow extends DriveRequest {
  userId: string;
}

function publicDrive(row: DriveRow): DriveRequest {
  const { userId: _userId, ...request } = row;
  return request;
}

function driveRowOf(row: Record<string, unknown>): DriveRow {
  const state = textCol(row, 'state');
  return {
    userId: textCol(row, 'user_id'),
    id: textCol(row, 'id'),
    shareId: textCol(row, 'share_id'),
    taskId: textCol(row, 'task_id'),
    user: textCol(row, 'username'),
    state: state === 'accepted' || state === 'refused' || state === 'revoked' ? state : 'pending',
    createdAt: timeCol(row, 'created_at').toISOString(),
    decidedAt: timeOrNullCol(row, 'decided_at')?.toISOString() ?? null,
    decidedBy: textOrNullCol(row, 'decided_by'),
  };
}

const COLUMNS = 'id, task_id, created_by, kind, secret_hash, created_at, expires_at, revoked_at, last_used_at';
const MINUTE_MS = 60_000;

/**
 * Share links (docs/sharing.md, adr/0019): the owner of a task (or an admin) creates, lists and revokes them;
 * anyone holding one's secret may read the task's limited view and watch its main terminal. A secret is 32
 * random bytes, stored only as its sha256 and compared in constant time.
 */
export class ShareService {
  constructor(
    private readonly deps: {
      db: Queryable;
      tasks: TaskStore;
      viewers: ShareViewers;
      publicUrl: () => string;
      logger: Logger;
      now: () => number;
      /** Adds a task timeline entry (driver accepted / revoked). */
      timeline?: (taskId: string, type: TaskEventType, data: Record<string, unknown>) => Promise<unknown>;
    },
  ) {}

  /** A new link to `taskId` (owner or admin; another user's task is NOT_FOUND). The URL is shown this once. */
  async create(
    auth: AuthContext,
    taskId: string,
    req: { kind: ShareKind; expiresInMs: number },
  ): Promise<CreateShareResponse> {
    const task = await this.visibleTask(auth, taskId);
    const at = this.deps.now();
    const { rows } = await this.deps.db.query(
      'SELECT count(*)::int AS n FROM share_links WHERE task_id = $1 AND revoked_at IS NULL AND expires_at > $2',
      [task.id, new Date(at)],
    );
    if (Number(rows[0]?.n ?? 0) >= SHARE_MAX_ACTIVE_PER_TASK) {
      throw new AppError(
        'CONFLICT',
        `task ${task.id} already has ${SHARE_MAX_ACTIVE_PER_TASK} live share links; revoke one with \`rclaude share rm\``,
      );
    }
    const id = `sh_${newId(16)}`;
    const secret = randomSecret();
    const row: ShareRow = {
      id,
      taskId: task.id,
      createdBy: auth.userId,
      kind: req.kind,
      secretHash: hashShareSecret(secret),
      createdAt: new Date(at),
      expiresAt: new Date(at + req.expiresInMs),
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.deps.db.query(
      `INSERT INTO share_links (id, task_id, created_by, kind, secret_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [row.id, row.taskId, row.createdBy, row.kind, row.secretHash, row.createdAt, row.expiresAt],
    );
    this.deps.logger.info(
      { shareId: id, taskId: task.id, userId: auth.userId, expiresAt: row.expiresAt.toISOString() },
      'share link created',
    );
    return { share: this.toShare(row, task.name, 0), url: shareUrl(this.deps.publicUrl(), id, secret) };
  }

  /** The links the caller created, newest first (`taskId`: of one task). */
  async list(auth: AuthContext, taskId?: string): Promise<Share[]> {
    const { rows } = await this.deps.db.query(
      `SELECT ${COLUMNS} FROM share_links WHERE created_by = $1 AND ($2::text IS NULL OR task_id = $2)
       ORDER BY created_at DESC LIMIT 500`,
      [auth.userId, taskId ?? null],
    );
    const out: Share[] = [];
    const names = new Map<string, string>();
    for (const raw of rows) {
      const row = rowOf(raw);
      let name = names.get(row.taskId);
      if (name === undefined) {
        name = (await this.deps.tasks.get(row.taskId))?.name ?? '';
        names.set(row.taskId, name);
      }
      const live = shareState(row, this.deps.now()) === 'active';
      out.push(this.toShare(row, name, live ? await this.deps.viewers.count(row.id) : 0));
    }
    return out;
  }

  /**
   * Revokes a link (its creator, the task's owner, or an admin; anyone else gets NOT_FOUND, like a missing id)
   * and cuts its live viewers off. Revoking a revoked link is a no-op.
   */
  async revoke(auth: AuthContext, shareId: string): Promise<void> {
    const row = await this.find(shareId);
    const task = row ? await this.deps.tasks.get(row.taskId) : null;
    const allowed = row && (row.createdBy === auth.userId || task?.owner === auth.userId || auth.role === 'admin');
    if (!row || !allowed) throw new AppError('NOT_FOUND', `no share link ${shareId}`);
    const at = new Date(this.deps.now());
    await this.deps.db.query('UPDATE share_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [
      shareId,
      at,
    ]);
    // Its co-drivers go with it (their sockets are cut off below with the link's other viewers).
    const { rows } = await this.deps.db.query(
      `UPDATE share_drive_requests SET state = CASE WHEN state = 'accepted' THEN 'revoked' ELSE 'refused' END,
         decided_at = $2, decided_by = $3
       WHERE share_id = $1 AND state IN ('pending', 'accepted') RETURNING ${DRIVE_COLUMNS}`,
      [shareId, at, auth.username],
    );
    this.deps.logger.info({ shareId, userId: auth.userId }, 'share link revoked');
    this.deps.viewers.revoked(shareId);
    for (const raw of rows) {
      const request = driveRowOf(raw);
      if (task) await this.driveChanged(request, task);
    }
  }

  // ---- co-driving (drive links) ------------------------------------------------------------------

  /**
   * A signed-in user on a drive link asks to type: their open request (pending or accepted) if they have one,
   * else a new pending one. Refused when the link is not a working drive link, when the asker owns the task
   * (they type anyway), or when the link or the user has made too many requests.
   */
  async requestDrive(shareId: string, user: { userId: string; username: string }): Promise<DriveRequest> {
    const row = await this.find(shareId);
    if (!row) throw shareRefused('invalid');
    const state = shareState(row, this.deps.now());
    if (state !== 'active') throw shareRefused(state);
    if (row.kind !== 'drive')
      throw new AppError('READ_ONLY', 'this share link is read-only; ask its owner for a co-drive link');
    const task = await this.deps.tasks.get(row.taskId);
    if (!task) throw shareRefused('invalid');
    if (task.owner === user.userId)
      throw new AppError('CONFLICT', 'this is your own task: open it from your dashboard to type');
    const open = await this.deps.db.query(
      `SELECT ${DRIVE_COLUMNS} FROM share_drive_requests WHERE share_id = $1 AND user_id = $2 AND state IN ('pending', 'accepted')`,
      [shareId, user.userId],
    );
    if (open.rows[0]) return publicDrive(driveRowOf(open.rows[0]));
    const { rows: counts } = await this.deps.db.query(
      `SELECT count(*) FILTER (WHERE state IN ('pending', 'accepted'))::int AS open,
              count(*) FILTER (WHERE user_id = $2)::int AS mine
       FROM share_drive_requests WHERE share_id = $1`,
      [shareId, user.userId],
    );
    if (Number(counts[0]?.mine ?? 0) >= SHARE_MAX_DRIVE_REQUESTS_PER_USER) {
      throw new AppError(
        'RATE_LIMITED',
        `you have asked ${SHARE_MAX_DRIVE_REQUESTS_PER_USER} times on this link; ask its owner directly`,
      );
    }
    if (Number(counts[0]?.open ?? 0) >= SHARE_MAX_OPEN_DRIVE_REQUESTS) {
      throw new AppError('RATE_LIMITED', 'this link has as many open requests to type as it may have; try again later');
    }
    const id = `dr_${newId(16)}`;
    const inserted = await this.deps.db
      .query(
        `INSERT INTO share_drive_requests (id, share_id, task_id, user_id, username, state, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING ${DRIVE_COLUMNS}`,
        [id, shareId, task.id, user.userId, user.username, new Date(this.deps.now())],
      )
      .catch(async (err: unknown) => {
        // Two requests at once: the unique index keeps one open request; answer it.
        const again = await this.deps.db.query(
          `SELECT ${DRIVE_COLUMNS} FROM share_drive_requests WHERE share_id = $1 AND user_id = $2 AND state IN ('pending', 'accepted')`,
          [shareId, user.userId],
        );
        if (!again.rows[0]) throw err;
        return again;
      });
    const request = driveRowOf(inserted.rows[0] as Record<string, unknown>);
    this.deps.logger.info({ shareId, requestId: request.id, userId: user.userId }, 'drive requested');
    await this.deps.viewers.driveChanged(publicDrive(request), {
      userId: user.userId,
      mainSessionId: task.mainSessionId,
    });
    return publicDrive(request);
  }

  /** The drive requests of a task, newest first (its owner or an admin; anyone else gets NOT_FOUND). */
  async listDriveRequests(auth: AuthContext, taskId: string): Promise<DriveRequest[]> {
    const task = await this.visibleTask(auth, taskId);
    const { rows } = await this.deps.db.query(
      `SELECT ${DRIVE_COLUMNS} FROM share_drive_requests WHERE task_id = $1 ORDER BY created_at DESC, id LIMIT 200`,
      [task.id],
    );
    return rows.map((r) => publicDrive(driveRowOf(r)));
  }

  /**
   * The owner (or an admin) accepts or refuses a pending request, or revokes an accepted one; it takes effect on
   * the asker's live sockets at once. Anything else (a decided request, a link no longer working) is CONFLICT;
   * another user's request is NOT_FOUND.
   */
  async decideDrive(auth: AuthContext, requestId: string, decision: DriveDecision): Promise<DriveRequest> {
    const { rows } = await this.deps.db.query(`SELECT ${DRIVE_COLUMNS} FROM share_drive_requests WHERE id = $1`, [
      requestId,
    ]);
    const current = rows[0] ? driveRowOf(rows[0]) : null;
    const task = current ? await this.deps.tasks.get(current.taskId) : null;
    if (!current || !task || (task.owner !== auth.userId && auth.role !== 'admin')) {
      throw new AppError('NOT_FOUND', `no drive request ${requestId}`);
    }
    const from = decision === 'revoke' ? 'accepted' : 'pending';
    const to = { accept: 'accepted', refuse: 'refused', revoke: 'revoked' }[decision];
    if (decision === 'accept' && !(await this.isActive(current.shareId))) {
      throw new AppError('CONFLICT', 'its share link no longer works (revoked or expired); make a new co-drive link');
    }
    const updated = await this.deps.db.query(
      `UPDATE share_drive_requests SET state = $3, decided_at = $4, decided_by = $5
       WHERE id = $1 AND state = $2 RETURNING ${DRIVE_COLUMNS}`,
      [requestId, from, to, new Date(this.deps.now()), auth.username],
    );
    if (!updated.rows[0]) {
      throw new AppError('CONFLICT', `drive request ${requestId} is ${current.state}; only a ${from} one can be ${to}`);
    }
    const request = driveRowOf(updated.rows[0]);
    this.deps.logger.info({ requestId, decision, userId: auth.userId }, 'drive request decided');
    await this.driveChanged(request, task);
    return publicDrive(request);
  }

  /** Whether `userId` may type through `shareId` now: a working drive link and an accepted request. */
  async mayDrive(shareId: string, userId: string): Promise<boolean> {
    const row = await this.find(shareId);
    if (row?.kind !== 'drive' || shareState(row, this.deps.now()) !== 'active') return false;
    const { rows } = await this.deps.db.query(
      "SELECT 1 FROM share_drive_requests WHERE share_id = $1 AND user_id = $2 AND state = 'accepted'",
      [shareId, userId],
    );
    return rows.length > 0;
  }

  private async driveChanged(request: DriveRow, task: Task): Promise<void> {
    if (request.state === 'accepted' || request.state === 'revoked') {
      const verb = request.state === 'accepted' ? 'may now type' : 'may no longer type';
      await this.deps
        .timeline?.(task.id, 'info', {
          message: `${request.user} ${verb} (${request.state} by ${request.decidedBy ?? 'the owner'})`,
          drive: { requestId: request.id, user: request.user, state: request.state, by: request.decidedBy },
        })
        .catch((err: unknown) =>
          this.deps.logger.error({ err, requestId: request.id }, 'recording a drive decision failed'),
        );
    }
    await this.deps.viewers.driveChanged(publicDrive(request), {
      userId: request.userId,
      mainSessionId: task.mainSessionId,
    });
  }

  /**
   * The link and its task if `secret` is its secret and it is neither revoked nor expired; otherwise
   * UNAUTHENTICATED with `details.reason` (a wrong secret is `invalid`, whatever state the link is in).
   */
  async verify(shareId: string, secret: string): Promise<VerifiedShare> {
    if (!shareIdSchema.safeParse(shareId).success || !shareSecretSchema.safeParse(secret).success) {
      throw shareRefused('invalid');
    }
    const row = await this.find(shareId);
    if (!row || !shareSecretMatches(secret, row.secretHash)) throw shareRefused('invalid');
    const at = this.deps.now();
    const state = shareState(row, at);
    if (state !== 'active') throw shareRefused(state);
    const task = await this.deps.tasks.get(row.taskId);
    if (!task) throw shareRefused('invalid');
    if (!row.lastUsedAt || at - row.lastUsedAt.getTime() >= MINUTE_MS) {
      await this.deps.db.query('UPDATE share_links SET last_used_at = $2 WHERE id = $1', [
        row.id,
        new Date(Math.floor(at / MINUTE_MS) * MINUTE_MS),
      ]);
    }
    return { id: row.id, kind: row.kind, expiresAt: row.expiresAt, task };
  }

  /** What the holder of a link sees: the task's name, status, main session and newest timeline entries. */
  async view(shareId: string, secret: string): Promise<ShareView> {
    const share = await this.verify(shareId, secret);
    const { rows } = await this.deps.db.query(
      'SELECT coalesce(max(seq), 0)::int AS last FROM task_events WHERE task_id = $1',
      [share.task.id],
    );
    const last = Number(rows[0]?.last ?? 0);
    const events = await this.deps.tasks.listEvents(
      share.task.id,
      Math.max(0, last - SHARE_VIEW_MAX_EVENTS),
      SHARE_VIEW_MAX_EVENTS,
    );
    return {
      shareId: share.id,
      kind: share.kind,
      expiresAt: share.expiresAt.toISOString(),
      task: { name: share.task.name, status: share.task.status, mainSessionId: share.task.mainSessionId },
      events: events.flatMap((e) => shareableEvent(e) ?? []),
    };
  }

  private async visibleTask(auth: AuthContext, taskId: string): Promise<Task> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || (task.owner !== auth.userId && auth.role !== 'admin')) {
      throw new AppError('NOT_FOUND', `no task ${taskId}`);
    }
    return task;
  }

  /** Whether a link still works now (neither revoked nor expired); for viewers checked again once they joined. */
  async isActive(shareId: string): Promise<boolean> {
    const row = await this.find(shareId);
    return row !== null && shareState(row, this.deps.now()) === 'active';
  }

  private async find(shareId: string): Promise<ShareRow | null> {
    const { rows } = await this.deps.db.query(`SELECT ${COLUMNS} FROM share_links WHERE id = $1`, [shareId]);
    return rows[0] ? rowOf(rows[0]) : null;
  }

  private toShare(row: ShareRow, taskName: string, viewers: number): Share {
    return {
      id: row.id,
      taskId: row.taskId,
      taskName,
      kind: row.kind,
      createdAt: row.createdAt.toISOString(),
      expiresAt: row.expiresAt.toISOString(),
      revokedAt: row.revokedAt?.toISOString() ?? null,
      lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
      state: shareState(row, this.deps.now()),
      viewers,
    };
  }
}
