/**
 * Approvals (issue 17): Claude Code's permission requests, pending until answered or expired. A request is
 * unique per sandbox and agent-chosen key, so an agent resending it after a reconnect gets the same row.
 */
export const sql = `
CREATE TABLE approvals (
  id text PRIMARY KEY,
  task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  owner text NOT NULL,
  sandbox_id text NOT NULL,
  request_key text NOT NULL,
  session_id text,
  tool text NOT NULL,
  summary text NOT NULL,
  input jsonb NOT NULL DEFAULT '{}',
  reason text,
  status text NOT NULL CHECK (status IN ('pending', 'allowed', 'denied', 'timed_out', 'withdrawn')),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL,
  answered_at timestamptz,
  answered_by text,
  answered_by_name text,
  message text,
  UNIQUE (sandbox_id, request_key)
);
CREATE INDEX approvals_task_idx ON approvals (task_id, created_at DESC);
CREATE INDEX approvals_owner_pending_idx ON approvals (owner, created_at DESC) WHERE status = 'pending';
CREATE INDEX approvals_expiry_idx ON approvals (expires_at) WHERE status = 'pending';
`;
