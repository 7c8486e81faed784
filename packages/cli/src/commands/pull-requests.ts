import { branchNameSchema, githubRepoSchema, type PullRequestInfo, type PushTaskResponse } from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';

interface Common {
  server?: string;
  json?: boolean;
}

function checkBranch(branch: string | undefined): void {
  if (branch !== undefined && !branchNameSchema.safeParse(branch).success) {
    throw new CliError(`"${branch}" is not a branch name git would accept here`, EXIT.error);
  }
}

/** `abc1234 → rclaude/x on /srv/repo.git` (or `… up to date`). */
export function describePush(p: PushTaskResponse): string {
  const what = p.upToDate ? 'already up to date' : 'pushed';
  return `${what}: ${safeText(p.branch)} at ${p.commit.slice(0, 12)} on ${safeText(p.pushedTo)}`;
}

/** `rclaude push ID [--branch B]`: commits the task's workspace now and pushes it; the task keeps running. */
export async function pushCommand(ref: string, opts: Common & { branch?: string }): Promise<number> {
  checkBranch(opts.branch);
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (!opts.json && process.stderr.isTTY) process.stderr.write(`committing and pushing ${task.id}…\n`);
  const pushed = await api.call('pushTask', {
    params: { id: task.id },
    ...(opts.branch ? { body: { branch: opts.branch } } : {}),
  });
  process.stdout.write(opts.json ? `${safeJson(pushed)}\n` : `${describePush(pushed)}\n`);
  return EXIT.ok;
}

/** `opened pull request #3: https://…` (or `updated`). */
export function describePullRequest(pr: PullRequestInfo): string {
  const what = pr.created ? 'opened' : 'pushed to the open';
  return `${what} pull request #${pr.number} (${safeText(pr.branch)} → ${safeText(pr.base)}): ${safeText(pr.url)}`;
}

/** `rclaude pr ID`: pushes the task's work now and opens its pull request (or adds to the open one). */
export async function prCommand(
  ref: string,
  opts: Common & { branch?: string; base?: string; title?: string; draft?: boolean; githubRepo?: string },
): Promise<number> {
  checkBranch(opts.branch);
  checkBranch(opts.base);
  if (opts.githubRepo !== undefined && !githubRepoSchema.safeParse(opts.githubRepo).success) {
    throw new CliError(`"${opts.githubRepo}" is not a GitHub repository`, EXIT.error, 'give it as owner/name');
  }
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (!opts.json && process.stderr.isTTY) process.stderr.write(`pushing ${task.id} and opening its pull request…\n`);
  const pr = await api.call('createPullRequest', {
    params: { id: task.id },
    body: {
      ...(opts.branch ? { branch: opts.branch } : {}),
      ...(opts.base ? { base: opts.base } : {}),
      ...(opts.title ? { title: opts.title } : {}),
      ...(opts.draft ? { draft: true } : {}),
      ...(opts.githubRepo ? { githubRepo: opts.githubRepo } : {}),
    },
  });
  process.stdout.write(opts.json ? `${safeJson(pr)}\n` : `${describePullRequest(pr)}\n`);
  return EXIT.ok;
}
