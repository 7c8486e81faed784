/**
 * Share links: a read-only window on one task for whoever holds the link's secret (docs/sharing.md). The
 * secret is stored only as its sha256; `revoked_at` and `expires_at` end a link, `last_used_at` is kept to the
 * minute. A link dies with its task.
 */
export const sql = `
CREATE TABLE share_links (
  id text PRIMARY KEY,
  task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  created_by text NOT NULL,
  kind text NOT NULL DEFAULT 'view' CHECK (kind IN ('view', 'drive')),
  secret_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX share_links_task_idx ON share_links (task_id);
CREATE INDEX share_links_creator_idx ON share_links (created_by, created_at);
`;
