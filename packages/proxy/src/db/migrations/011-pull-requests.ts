/**
 * Pull requests (docs/pull-requests.md): whether a task opens one when its program exits (`rclaude run --pr`),
 * the GitHub repository it was given (`--github-repo`), and the pull request once opened (its info as JSON:
 * url, number, repo, branch, base, commit).
 */
export const sql = `
ALTER TABLE tasks ADD COLUMN pull_request_on_exit boolean NOT NULL DEFAULT false;
ALTER TABLE tasks ADD COLUMN github_repo text;
ALTER TABLE tasks ADD COLUMN pull_request jsonb;
`;
