/**
 * Co-driving (adr/0023): a signed-in user's request to type into a task through a `drive` share link, and the
 * owner's decision. At most one open (pending or accepted) request per user and link; revoking the link
 * revokes its requests. Requests die with their link.
 */
export const sql = `
CREATE TABLE share_drive_requests (
  id text PRIMARY KEY,
  share_id text NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
  task_id text NOT NULL,
  user_id text NOT NULL,
  username text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'accepted', 'refused', 'revoked')),
  created_at timestamptz NOT NULL,
  decided_at timestamptz,
  decided_by text
);
CREATE UNIQUE INDEX share_drive_requests_open_idx ON share_drive_requests (share_id, user_id)
  WHERE state IN ('pending', 'accepted');
CREATE INDEX share_drive_requests_task_idx ON share_drive_requests (task_id, created_at);
`;
