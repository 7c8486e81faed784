/**
 * Each user's own additions to the egress allow-list (`rclaude allow-host`): host names and `*.` patterns with
 * an optional port, in lower case, checked by the server before they are stored. They go with their user.
 */
export const sql = `
CREATE TABLE user_allow_hosts (
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  host text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, host)
);
`;
