import type { ApprovalStatus } from '@rclaude/protocol';
import type pg from 'pg';
import type { ApprovalOutcome, ApprovalRecord, ApprovalStore } from './types.js';

const COLUMNS = `id, task_id, owner, sandbox_id, request_key, session_id, tool, summary, input, reason, status, created_at,
  expires_at, answered_at, answered_by, answered_by_name, message`;

interface ApprovalRow {
  id: string;
  task_id: string;
  owner: string;
  sandbox_id: string;
  request_key: string;
  session_id: string | null;
  tool: string;
  summary: string;
  input: Record<string, string> | string;
  reason: string | null;
  status: ApprovalStatus;
  created_at: Date;
  expires_at: Date;
  answered_at: Date | null;
  answered_by: string | null;
  answered_by_name: string | null;
  message: string | null;
}

function toRecord(r: ApprovalRow): ApprovalRecord {
  const input: unknown = typeof r.input === 'string' ? JSON.parse(r.input) : r.input;
  const fields: Record<string, string> = {};
  if (typeof input === 'object' && input !== null) {
    for (const [k, v] of Object.entries(input)) if (typeof v === 'string') fields[k] = v;
  }
  return {
    id: r.id,
    taskId: r.task_id,
    owner: r.owner,
    sandboxId: r.sandbox_id,
    requestKey: r.request_key,
    sessionId: r.session_id,
    tool: r.tool,
    summary: r.summary,
    input: fields,
    reason: r.reason,
    status: r.status,
    createdAt: new Date(r.created_at),
    expiresAt: new Date(r.expires_at),
    answeredAt: r.answered_at ? new Date(r.answered_at) : null,
    answeredBy: r.answered_by,
    answeredByName: r.answered_by_name,
    message: r.message,
  };
}

/** {@link ApprovalStore} on Postgres or the embedded PGlite (table `approvals`). */
export class PgApprovalStore implements ApprovalStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(
    rec: Omit<ApprovalRecord, 'status' | 'createdAt' | 'answeredAt' | 'answeredBy' | 'answeredByName' | 'message'>,
  ): Promise<{ record: ApprovalRecord; created: boolean }> {
    const res = await this.pool.query<ApprovalRow>(
      `INSERT INTO approvals (id, task_id, owner, sandbox_id, request_key, session_id, tool, summary, input, reason,
         status, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11)
       ON CONFLICT (sandbox_id, request_key) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        rec.id,
        rec.taskId,
        rec.owner,
        rec.sandboxId,
        rec.requestKey,
        rec.sessionId,
        rec.tool,
        rec.summary,
        JSON.stringify(rec.input),
        rec.reason,
        rec.expiresAt,
      ],
    );
    if (res.rows[0]) return { record: toRecord(res.rows[0]), created: true };
    const existing = await this.findByRequest(rec.sandboxId, rec.requestKey);
    if (!existing) throw new Error(`approval ${rec.requestKey} vanished while being created`);
    return { record: existing, created: false };
  }

  async get(id: string): Promise<ApprovalRecord | null> {
    const res = await this.pool.query<ApprovalRow>(`SELECT ${COLUMNS} FROM approvals WHERE id = $1`, [id]);
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async findByRequest(sandboxId: string, requestKey: string): Promise<ApprovalRecord | null> {
    const res = await this.pool.query<ApprovalRow>(
      `SELECT ${COLUMNS} FROM approvals WHERE sandbox_id = $1 AND request_key = $2`,
      [sandboxId, requestKey],
    );
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async settle(id: string, outcome: ApprovalOutcome, at: Date): Promise<ApprovalRecord | null> {
    const by = outcome.status === 'allowed' || outcome.status === 'denied' ? outcome : null;
    const message = outcome.status === 'timed_out' ? null : outcome.message;
    const res = await this.pool.query<ApprovalRow>(
      `UPDATE approvals SET status = $2, answered_at = $3, answered_by = $4, answered_by_name = $5, message = $6
       WHERE id = $1 AND status = 'pending'
       RETURNING ${COLUMNS}`,
      [id, outcome.status, at, by?.by ?? null, by?.byName ?? null, message],
    );
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async listByTask(taskId: string, limit: number): Promise<ApprovalRecord[]> {
    const res = await this.pool.query<ApprovalRow>(
      `SELECT ${COLUMNS} FROM approvals WHERE task_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
      [taskId, limit],
    );
    return res.rows.map(toRecord);
  }

  async listByOwner(owner: string | null, opts: { pendingOnly: boolean; limit: number }): Promise<ApprovalRecord[]> {
    const res = await this.pool.query<ApprovalRow>(
      `SELECT ${COLUMNS} FROM approvals
       WHERE ($1::text IS NULL OR owner = $1) AND (NOT $2 OR status = 'pending')
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [owner, opts.pendingOnly, opts.limit],
    );
    return res.rows.map(toRecord);
  }

  async listExpired(now: Date, limit: number): Promise<ApprovalRecord[]> {
    const res = await this.pool.query<ApprovalRow>(
      `SELECT ${COLUMNS} FROM approvals WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
      [now, limit],
    );
    return res.rows.map(toRecord);
  }

  async listPendingBySandbox(sandboxId: string): Promise<ApprovalRecord[]> {
    const res = await this.pool.query<ApprovalRow>(
      `SELECT ${COLUMNS} FROM approvals WHERE sandbox_id = $1 AND status = 'pending' ORDER BY created_at`,
      [sandboxId],
    );
    return res.rows.map(toRecord);
  }
}
