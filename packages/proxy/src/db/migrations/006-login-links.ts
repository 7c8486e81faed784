/**
 * One-time login links: the sha256 of a random token, whose user it signs in, until when, and when it was
 * used (a link works once). Rows are kept a day past expiry so a late click is told "used" or "expired".
 */
export const sql = `
CREATE TABLE login_links (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX login_links_expires_idx ON login_links (expires_at);
`;
