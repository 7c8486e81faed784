import { AppError, type ProviderName } from '@rclaude/protocol';
import type pg from 'pg';
import { isUniqueViolation } from './pg-task-store.js';
import type { SandboxRecord, SandboxStore } from './types.js';

const SANDBOX_COLUMNS = 'sandbox_id, task_id, provider, ref, token_hash, state, workspace, created_at';

interface SandboxRow {
  sandbox_id: string;
  task_id: string | null;
  provider: ProviderName;
  ref: string | null;
  token_hash: string;
  state: SandboxRecord['state'];
  workspace: string | null;
  created_at: Date;
}

type SandboxPatch = Parameters<SandboxStore['update']>[1];

const PATCH_COLUMNS: Record<keyof SandboxPatch, string> = {
  taskId: 'task_id',
  ref: 'ref',
  state: 'state',
  workspace: 'workspace',
  tokenHash: 'token_hash',
};

/** {@link SandboxStore} on Postgres or the embedded PGlite (table `sandboxes`). */
export class PgSandboxStore implements SandboxStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(rec: Omit<SandboxRecord, 'createdAt'>): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO sandboxes (sandbox_id, task_id, provider, ref, token_hash, state, workspace)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [rec.sandboxId, rec.taskId, rec.provider, rec.ref, rec.tokenHash, rec.state, rec.workspace],
      );
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError('CONFLICT', `a sandbox with id ${rec.sandboxId} already exists`, { cause: err });
      }
      throw err;
    }
  }

  async get(sandboxId: string): Promise<SandboxRecord | null> {
    const res = await this.pool.query<SandboxRow>(`SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE sandbox_id = $1`, [
      sandboxId,
    ]);
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  /** The task's live sandbox if it has one, else its most recent. */
  async getByTask(taskId: string): Promise<SandboxRecord | null> {
    const res = await this.pool.query<SandboxRow>(
      `SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE task_id = $1
       ORDER BY (state = 'stopped'), created_order DESC LIMIT 1`,
      [taskId],
    );
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  }

  /** A missing sandbox is not an error: there is nothing left to update. */
  async update(sandboxId: string, patch: SandboxPatch): Promise<void> {
    const values: unknown[] = [sandboxId];
    const sets: string[] = [];
    for (const key of Object.keys(PATCH_COLUMNS) as (keyof SandboxPatch)[]) {
      const value = patch[key];
      if (value === undefined) continue;
      values.push(value);
      sets.push(`${PATCH_COLUMNS[key]} = $${values.length}`);
    }
    if (sets.length === 0) return;
    await this.pool.query(`UPDATE sandboxes SET ${sets.join(', ')} WHERE sandbox_id = $1`, values);
  }

  /** Every sandbox not yet stopped, oldest first. */
  async listActive(): Promise<SandboxRecord[]> {
    const res = await this.pool.query<SandboxRow>(
      `SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE state <> 'stopped' ORDER BY created_order`,
    );
    return res.rows.map(toRecord);
  }
}

function toRecord(row: SandboxRow): SandboxRecord {
  return {
    sandboxId: row.sandbox_id,
    taskId: row.task_id,
    provider: row.provider,
    ref: row.ref,
    tokenHash: row.token_hash,
    state: row.state,
    workspace: row.workspace,
    createdAt: row.created_at,
  };
}
