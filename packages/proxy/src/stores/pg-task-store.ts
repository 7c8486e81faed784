import {
  AppError,
  canTransition,
  type ProviderName,
  type PullRequestInfo,
  type Task,
  type TaskActivity,
  type TaskEvent,
  type TaskEventType,
  type TaskStatus,
  type TaskUsage,
  taskStatuses,
  terminalStatuses,
} from '@rclaude/protocol';
import type pg from 'pg';
import type { CostTotals, NewTask, TaskFilter, TaskPatch, TaskStore } from './types.js';

const TASK_COLUMNS = `id, name, owner, provider, command, prompt, repo, branch, push_branch, allow_hosts, status, activity,
  pull_request_on_exit, github_repo, pull_request, status_reason, exit_code, main_session_id, created_at, started_at, ended_at, resumed_at, compute_cost_usd, model_cost_usd, usage, fork_of`;

/** Most events one `listEvents` call returns, whatever the caller asks. */
export const MAX_EVENTS_PER_PAGE = 10_000;

interface TaskRow {
  id: string;
  name: string;
  owner: string;
  provider: ProviderName;
  command: string[] | null;
  prompt: string | null;
  repo: string | null;
  branch: string | null;
  push_branch: string | null;
  pull_request_on_exit: boolean;
  github_repo: string | null;
  pull_request: PullRequestInfo | null;
  allow_hosts: string[];
  status: TaskStatus;
  activity: TaskActivity | null;
  status_reason: string | null;
  exit_code: number | null;
  main_session_id: string;
  created_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  resumed_at: Date | null;
  compute_cost_usd: number;
  model_cost_usd: number;
  usage: TaskUsage | null;
  fork_of: string | null;
}

interface EventRow {
  task_id: string;
  seq: number;
  type: TaskEventType;
  data: Record<string, unknown>;
  at: Date;
}

/** {@link TaskStore} on Postgres or the embedded PGlite (tables `tasks`, `task_events`). */
export class PgTaskStore implements TaskStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(task: NewTask): Promise<Task> {
    try {
      const res = await this.pool.query<TaskRow>(
        `INSERT INTO tasks (id, name, owner, provider, command, prompt, repo, branch, push_branch, main_session_id,
           allow_hosts, pull_request_on_exit, github_repo, fork_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ${TASK_COLUMNS}`,
        [
          task.id,
          task.name,
          task.owner,
          task.provider,
          task.command,
          task.prompt,
          task.repo,
          task.branch,
          task.pushBranch,
          task.mainSessionId,
          task.allowHosts ?? [],
          task.pullRequestOnExit ?? false,
          task.githubRepo ?? null,
          task.forkOf ?? null,
        ],
      );
      return toTask(firstRow(res));
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError('CONFLICT', `a task with id ${task.id} already exists`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<Task | null> {
    const res = await this.pool.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1`, [id]);
    return res.rows[0] ? toTask(res.rows[0]) : null;
  }

  async list(filter: TaskFilter): Promise<Task[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const bind = (v: unknown): string => {
      values.push(v);
      return `$${values.length}`;
    };
    if (filter.owner !== undefined) where.push(`owner = ${bind(filter.owner)}`);
    if (filter.status !== undefined) where.push(`status = ${bind(filter.status)}`);
    if (filter.forkOf !== undefined) where.push(`fork_of = ${bind(filter.forkOf)}`);
    if (filter.q) where.push(`name ILIKE ${bind(`%${escapeLike(filter.q)}%`)}`);
    if (filter.live) where.push(`status <> ALL(${bind(terminalStatuses)}::text[])`);
    const res = await this.pool.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_order DESC LIMIT ${bind(Math.max(0, Math.floor(filter.limit)))}`,
      values,
    );
    return res.rows.map(toTask);
  }

  async transition(id: string, to: TaskStatus, patch: TaskPatch = {}): Promise<Task | null> {
    const from = taskStatuses.filter((s) => canTransition(s, to));
    if (from.length === 0) return null;
    const values: unknown[] = [id, to, from];
    const sets = ['status = $2', ...patchAssignments(patch, values)];
    // The legality check sits in the WHERE clause: a racing UPDATE waits for the row lock, then
    // re-evaluates the WHERE against the winner's row, so at most one of two conflicting moves applies.
    const res = await this.pool.query<TaskRow>(
      `UPDATE tasks SET ${sets.join(', ')} WHERE id = $1 AND status = ANY($3::text[]) RETURNING ${TASK_COLUMNS}`,
      values,
    );
    return res.rows[0] ? toTask(res.rows[0]) : null;
  }

  async update(id: string, patch: TaskPatch): Promise<Task | null> {
    const values: unknown[] = [id];
    const sets = patchAssignments(patch, values);
    if (sets.length === 0) return this.get(id);
    const res = await this.pool.query<TaskRow>(
      `UPDATE tasks SET ${sets.join(', ')} WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
      values,
    );
    return res.rows[0] ? toTask(res.rows[0]) : null;
  }

  async addModelUsage(id: string, usage: TaskUsage, costUsd: number): Promise<Task | null> {
    // One statement, so answers metered at once (on one proxy or several) all count.
    const add = (field: keyof TaskUsage, param: number) =>
      `'${field}', coalesce((usage->>'${field}')::bigint, 0) + $${param}::bigint`;
    const res = await this.pool.query<TaskRow>(
      `UPDATE tasks SET model_cost_usd = round((model_cost_usd + $2::float8)::numeric, 6)::float8,
         usage = jsonb_build_object(${add('inputTokens', 3)}, ${add('outputTokens', 4)},
           ${add('cacheReadTokens', 5)}, ${add('cacheCreationTokens', 6)})
       WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
      [id, costUsd, usage.inputTokens, usage.outputTokens, usage.cacheReadTokens, usage.cacheCreationTokens],
    );
    return res.rows[0] ? toTask(res.rows[0]) : null;
  }

  async delete(id: string): Promise<boolean> {
    const res = await this.pool.query('DELETE FROM tasks WHERE id = $1', [id]);
    return (res.rowCount ?? 0) > 0;
  }

  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    // One statement: the counter bump takes the task's row lock, so concurrent appends get distinct,
    // gap-free seqs in commit order.
    const res = await this.pool.query<EventRow>(
      `WITH next AS (
         UPDATE tasks SET last_event_seq = last_event_seq + 1 WHERE id = $1 RETURNING id, last_event_seq
       )
       INSERT INTO task_events (task_id, seq, type, data)
       SELECT id, last_event_seq, $2, $3::jsonb FROM next
       RETURNING task_id, seq, type, data, at`,
      [taskId, type, JSON.stringify(withoutNul(data))],
    );
    const row = res.rows[0];
    if (!row) throw new AppError('NOT_FOUND', 'task not found');
    return toEvent(row);
  }

  async listEvents(taskId: string, afterSeq = 0, limit = 1000): Promise<TaskEvent[]> {
    const res = await this.pool.query<EventRow>(
      `SELECT task_id, seq, type, data, at FROM task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [taskId, afterSeq, Math.min(Math.max(0, Math.floor(limit)), MAX_EVENTS_PER_PAGE)],
    );
    return res.rows.map(toEvent);
  }

  async costSince(owner: string, since: Date): Promise<CostTotals> {
    const tokens = (field: string) => `coalesce(sum((usage->>'${field}')::bigint), 0)::text`;
    const res = await this.pool.query<{
      tasks: number;
      compute: number;
      model: number;
      input: string;
      output: string;
      cache_read: string;
      cache_creation: string;
    }>(
      `SELECT count(*)::int AS tasks, coalesce(sum(compute_cost_usd), 0)::float8 AS compute,
         coalesce(sum(model_cost_usd), 0)::float8 AS model, ${tokens('inputTokens')} AS input,
         ${tokens('outputTokens')} AS output, ${tokens('cacheReadTokens')} AS cache_read,
         ${tokens('cacheCreationTokens')} AS cache_creation
       FROM tasks WHERE owner = $1 AND created_at >= $2`,
      [owner, since],
    );
    const row = firstRow(res);
    return {
      tasks: row.tasks,
      computeCostUsd: row.compute,
      modelCostUsd: row.model,
      usage: {
        inputTokens: Number(row.input),
        outputTokens: Number(row.output),
        cacheReadTokens: Number(row.cache_read),
        cacheCreationTokens: Number(row.cache_creation),
      },
    };
  }
}

function patchAssignments(patch: TaskPatch, values: unknown[]): string[] {
  const sets: string[] = [];
  const set = (column: string, value: unknown, cast = ''): void => {
    values.push(value);
    sets.push(`${column} = $${values.length}${cast}`);
  };
  if (patch.activity !== undefined) set('activity', patch.activity);
  if (patch.statusReason !== undefined) set('status_reason', patch.statusReason);
  if (patch.exitCode !== undefined) set('exit_code', patch.exitCode);
  if (patch.startedAt !== undefined) set('started_at', patch.startedAt);
  if (patch.endedAt !== undefined) set('ended_at', patch.endedAt);
  if (patch.resumedAt !== undefined) set('resumed_at', patch.resumedAt);
  if (patch.computeCostUsd !== undefined) set('compute_cost_usd', patch.computeCostUsd);
  if (patch.modelCostUsd !== undefined) set('model_cost_usd', patch.modelCostUsd);
  if (patch.usage !== undefined) set('usage', patch.usage === null ? null : JSON.stringify(patch.usage), '::jsonb');
  if (patch.pullRequest !== undefined) {
    set('pull_request', patch.pullRequest === null ? null : JSON.stringify(patch.pullRequest), '::jsonb');
  }
  return sets;
}

function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    provider: row.provider,
    command: row.command,
    prompt: row.prompt,
    repo: row.repo,
    branch: row.branch,
    pushBranch: row.push_branch,
    pullRequestOnExit: row.pull_request_on_exit,
    githubRepo: row.github_repo,
    pullRequest: row.pull_request,
    allowHosts: row.allow_hosts,
    status: row.status,
    activity: row.activity,
    statusReason: row.status_reason,
    exitCode: row.exit_code,
    mainSessionId: row.main_session_id,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    endedAt: row.ended_at?.toISOString() ?? null,
    resumedAt: row.resumed_at?.toISOString() ?? null,
    computeCostUsd: row.compute_cost_usd,
    modelCostUsd: row.model_cost_usd,
    usage: row.usage,
    forkOf: row.fork_of,
  };
}

function toEvent(row: EventRow): TaskEvent {
  return { seq: row.seq, taskId: row.task_id, type: row.type, at: row.at.toISOString(), data: row.data };
}

function firstRow<R extends pg.QueryResultRow>(res: pg.QueryResult<R>): R {
  const row = res.rows[0];
  if (!row) throw new AppError('INTERNAL', 'the database returned no row');
  return row;
}

/** Postgres error 23505. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * jsonb cannot hold U+0000 (Postgres refuses `\u0000` in text), but event payloads carry program
 * output that may. Replace it with U+FFFD rather than lose the event.
 */
export function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\u0000') ? value.replaceAll('\u0000', '\ufffd') : value;
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[withoutNul(k) as string] = withoutNul(v);
    return out;
  }
  return value;
}
