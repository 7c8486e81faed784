/**
 * Checkpoints (issue 12): the `hibernated` status, when a task's current run began (compute is billed per run,
 * not for the hours it hibernated), and each checkpoint's record. The manifest and the blobs are in the
 * checkpoint blob store (local folder or S3); a row is `pending` from the moment the proxy asks the agent for
 * it until the agent has uploaded its manifest, so any proxy can check an upload against it.
 */
export const sql = `
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('queued', 'starting', 'running', 'idle', 'stopping', 'hibernated', 'succeeded', 'failed', 'stopped'));
ALTER TABLE tasks ADD COLUMN resumed_at timestamptz;

CREATE TABLE checkpoints (
  id text PRIMARY KEY,
  task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  owner text NOT NULL,
  sandbox_id text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'complete')),
  trigger text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  files integer NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  uploaded_bytes bigint NOT NULL DEFAULT 0,
  duration_ms integer NOT NULL DEFAULT 0,
  claude_session_id text
);
CREATE INDEX checkpoints_task_idx ON checkpoints (task_id, created_at DESC);
CREATE INDEX checkpoints_owner_idx ON checkpoints (owner);
`;
