/**
 * Tasks, their timelines and the sandboxes that serve them. `last_event_seq` is the per-task counter
 * `task_events.seq` is drawn from (bumped in the same statement that inserts the event).
 */
export const sql = `
CREATE TABLE tasks (
  id text PRIMARY KEY,
  name text NOT NULL,
  owner text NOT NULL,
  provider text NOT NULL,
  command text[],
  prompt text,
  repo text,
  branch text,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'starting', 'running', 'idle', 'stopping', 'succeeded', 'failed', 'stopped')),
  activity text CHECK (activity IN ('working', 'waiting', 'done')),
  status_reason text,
  exit_code integer,
  main_session_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  ended_at timestamptz,
  compute_cost_usd double precision NOT NULL DEFAULT 0 CHECK (compute_cost_usd >= 0),
  model_cost_usd double precision NOT NULL DEFAULT 0 CHECK (model_cost_usd >= 0),
  usage jsonb,
  last_event_seq integer NOT NULL DEFAULT 0
);
CREATE INDEX tasks_owner_created_idx ON tasks (owner, created_at DESC);
CREATE INDEX tasks_created_idx ON tasks (created_at DESC);
CREATE INDEX tasks_live_idx ON tasks (status) WHERE status NOT IN ('succeeded', 'failed', 'stopped');

CREATE TABLE task_events (
  task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (task_id, seq)
);

-- No foreign key to tasks: a sandbox may be pooled before it has a task, and its row must outlive a
-- deleted task so start-up reconciliation can still find and stop it.
CREATE TABLE sandboxes (
  sandbox_id text PRIMARY KEY,
  task_id text,
  provider text NOT NULL,
  ref text,
  token_hash text NOT NULL,
  state text NOT NULL CHECK (state IN ('starting', 'pooled', 'claimed', 'stopped')),
  workspace text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sandboxes_task_idx ON sandboxes (task_id, created_at DESC);
CREATE INDEX sandboxes_active_idx ON sandboxes (state) WHERE state <> 'stopped';
`;
