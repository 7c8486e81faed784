/** The new branch a task's changes are committed and pushed to when it ends (`rclaude run --push`). */
export const sql = `
ALTER TABLE tasks ADD COLUMN push_branch text;
`;
