/** Hosts a task's sandbox may reach beyond the server's egress allow-list (`rclaude run --allow-host`). */
export const sql = `
ALTER TABLE tasks ADD COLUMN allow_hosts text[] NOT NULL DEFAULT '{}';
`;
