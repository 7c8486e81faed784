import type { CheckpointTrigger } from '@rclaude/protocol';
import type pg from 'pg';
import type { CheckpointRecord, CheckpointRecordStore } from './types.js';

const COLUMNS =
  'id, task_id, owner, sandbox_id, state, trigger, created_at, files, bytes, uploaded_bytes, duration_ms, claude_session_id';

interface CheckpointRow {
  id: string;
  task_id: string;
  owner: string;
  sandbox_id: string;
  state: CheckpointRecord['state'];
  trigger: CheckpointTrigger;
  created_at: Date;
  files: number;
  bytes: string | number;
  uploaded_bytes: string | number;
  duration_ms: number;
  claude_session_id: string | null;
}

/** {@link CheckpointRecordStore} on Postgres or the embedded PGlite (table `checkpoints`). */
export class PgCheckpointStore implements CheckpointRecordStore {
  constructor(private readonly pool: pg.Pool) {}

  async begin(rec: { id: string; taskId: string; owner: string; sandboxId: string; trigger: CheckpointTrigger }) {
    await this.pool.query(
      `INSERT INTO checkpoints (id, task_id, owner, sandbox_id, state, trigger) VALUES ($1, $2, $3, $4, 'pending', $5)`,
      [rec.id, rec.taskId, rec.owner, rec.sandboxId, rec.trigger],
    );
  }

  async get(id: string): Promise<CheckpointRecord | null> {
    const res = await this.pool.query<CheckpointRow>(`SELECT ${COLUMNS} FROM checkpoints WHERE id = $1`, [id]);
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async addUploaded(id: string, bytes: number): Promise<void> {
    await this.pool.query(
      `UPDATE checkpoints SET uploaded_bytes = uploaded_bytes + $2 WHERE id = $1 AND state = 'pending'`,
      [id, bytes],
    );
  }

  async complete(
    id: string,
    totals: { files: number; bytes: number; durationMs: number; claudeSessionId: string | null },
  ): Promise<CheckpointRecord | null> {
    const res = await this.pool.query<CheckpointRow>(
      `UPDATE checkpoints SET state = 'complete', files = $2, bytes = $3, duration_ms = $4, claude_session_id = $5
       WHERE id = $1 AND state = 'pending' RETURNING ${COLUMNS}`,
      [id, totals.files, totals.bytes, Math.round(totals.durationMs), totals.claudeSessionId],
    );
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  async list(taskId: string, limit = 1000): Promise<CheckpointRecord[]> {
    const res = await this.pool.query<CheckpointRow>(
      `SELECT ${COLUMNS} FROM checkpoints WHERE task_id = $1 AND state = 'complete'
       ORDER BY created_at DESC, id DESC LIMIT $2`,
      [taskId, limit],
    );
    return res.rows.map(toRecord);
  }

  async listByOwner(owner: string): Promise<CheckpointRecord[]> {
    const res = await this.pool.query<CheckpointRow>(
      `SELECT ${COLUMNS} FROM checkpoints WHERE owner = $1 ORDER BY created_at DESC, id DESC`,
      [owner],
    );
    return res.rows.map(toRecord);
  }

  async owners(): Promise<string[]> {
    const res = await this.pool.query<{ owner: string }>('SELECT DISTINCT owner FROM checkpoints ORDER BY owner');
    return res.rows.map((r) => r.owner);
  }

  async delete(id: string): Promise<void> {
    await this.pool.query('DELETE FROM checkpoints WHERE id = $1', [id]);
  }
}

function toRecord(row: CheckpointRow): CheckpointRecord {
  return {
    id: row.id,
    taskId: row.task_id,
    owner: row.owner,
    sandboxId: row.sandbox_id,
    state: row.state,
    trigger: row.trigger,
    createdAt: row.created_at.toISOString(),
    files: row.files,
    bytes: Number(row.bytes),
    uploadedBytes: Number(row.uploaded_bytes),
    durationMs: row.duration_ms,
    claudeSessionId: row.claude_session_id,
  };
}
