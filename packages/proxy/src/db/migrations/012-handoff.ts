/**
 * Forks (docs/moving-work.md): a task records the task it was forked from, so a task's forks can be listed
 * side by side. No foreign key: a fork outlives the deletion of its source, and keeps naming it.
 */
export const sql = `
ALTER TABLE tasks ADD COLUMN fork_of text;
CREATE INDEX tasks_fork_of_idx ON tasks (fork_of) WHERE fork_of IS NOT NULL;
`;
