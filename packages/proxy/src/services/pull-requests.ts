import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import {
  AppError,
  agentRepoCommitResultSchema,
  branchNameSchema,
  type CreatePullRequestRequest,
  isTerminal,
  type PullRequestInfo,
  type PushTaskRequest,
  type PushTaskResponse,
  repoSourceKind,
  resultEventSchema,
  type Task,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { SandboxStore, TaskStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import type { AuthContext } from './auth-context.js';
import { fetchBundleCommit, type GitRun, inRepo as inRepoArgs, lastLine, runGit as runGitWith } from './git.js';
import { type GitAccess, type GitCredential, remoteTarget, runRemoteGit, scrubCredential } from './git-remote.js';
import { copyAgentFile, PUSH_BUNDLE_MAX_BYTES } from './repo-source.js';
import type { TaskTimeline } from './task-transitions.js';

/** The stored secret the proxy pushes and opens pull requests with. */
export const GITHUB_TOKEN_SECRET = 'GITHUB_TOKEN' as const;
/** How long the agent may take to commit and bundle the workspace. */
const COMMIT_TIMEOUT_MS = 120_000;
/** How long one git command of a push may take. */
const GIT_TIMEOUT_MS = 300_000;

/** The proxy's git for pushes: isolated from every configuration file (the token goes with the request). */
const GIT_OPTS = { isolated: true, timeoutMs: GIT_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 };

function runGit(args: string[], env: Record<string, string> = {}): Promise<GitRun> {
  return runGitWith(args, { ...GIT_OPTS, env });
}
/** Most characters of the prompt and of the result text in a pull request's body (GitHub takes 65,536). */
const BODY_PART_MAX_CHARS = 20_000;

export interface PullRequestServiceDeps {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  rpc: AgentRpc;
  timeline: TaskTimeline;
  log: Logger;
  /** A task the caller may act on (owner or admin), else NOT_FOUND (TaskService.get). */
  getTask: (auth: AuthContext, id: string) => Promise<Task>;
  /** The user's stored secret of that name, or null (SecretService). Read at each push, never kept. */
  secret: (userId: string, name: string) => Promise<string | null>;
  /** RCLAUDE_GITHUB_API_URL: the GitHub REST API (https://api.github.com, or an Enterprise server's /api/v3). */
  githubApiUrl: string;
  /** The server's public URL, for the link back to the task. */
  publicUrl: () => string;
  /** The proxy's git settings (RCLAUDE_GIT_INSTEAD_OF, the egress check); none: no rewrites, no check. */
  git?: GitAccess;
}

/** A GitHub repository as `owner` and `name`. */
export interface GithubRepo {
  owner: string;
  name: string;
}

/**
 * The web host of the GitHub whose API is `apiUrl`: `github.com` for `https://api.github.com`, the server's own
 * host for GitHub Enterprise (`https://ghe.example.com/api/v3`).
 */
export function githubHost(apiUrl: string): string {
  const host = new URL(apiUrl).host.toLowerCase();
  return host.startsWith('api.') ? host.slice(4) : host;
}

/**
 * The GitHub repository a clone URL names (`https://github.com/o/r`, `.git` or not, and `git@github.com:o/r`),
 * on the GitHub host `host`; null for anything else (another host, a local path).
 */
export function parseGithubRepo(url: string, host: string): GithubRepo | null {
  const h = host.toLowerCase().replace(/[.]/g, '\\.');
  const m =
    new RegExp(`^https://${h}/([A-Za-z0-9-]{1,100})/([A-Za-z0-9._-]{1,100}?)(?:\\.git)?/?$`, 'i').exec(url) ??
    new RegExp(`^git@${h}:([A-Za-z0-9-]{1,100})/([A-Za-z0-9._-]{1,100}?)(?:\\.git)?$`, 'i').exec(url);
  if (!m?.[1] || !m[2] || m[2] === '.' || m[2] === '..') return null;
  return { owner: m[1], name: m[2] };
}

/** A pull request's title: the given one, else the prompt's first line, else the task's name. */
export function pullRequestTitle(task: Task, given?: string): string {
  const first = task.prompt?.trim().split('\n', 1)[0]?.trim() ?? '';
  const title = given?.trim() || first || task.name;
  return title.length > 120 ? `${title.slice(0, 119)}…` : title;
}

/** A pull request's body: the prompt, the result, the changes and a link back to the task. */
export function pullRequestBody(
  task: Task,
  parts: { result: string | null; changes: string; taskUrl: string },
): string {
  const cut = (s: string) => (s.length > BODY_PART_MAX_CHARS ? `${s.slice(0, BODY_PART_MAX_CHARS)}…` : s);
  const quote = (s: string) =>
    cut(s.trim())
      .split('\n')
      .map((l) => `> ${l}`)
      .join('\n');
  const lines = [task.prompt ? `**Prompt**\n\n${quote(task.prompt)}` : `**Task** ${task.name} (interactive)`];
  if (parts.result?.trim()) lines.push(`**Result**\n\n${quote(parts.result)}`);
  lines.push(`**Changes**: ${parts.changes}`);
  lines.push(`Opened by rclaude from task [${task.id}](${parts.taskUrl}).`);
  return lines.join('\n\n');
}

/**
 * Pushes a running task's work and opens pull requests for it (docs/pull-requests.md, adr/0015). The agent
 * commits and bundles; the proxy takes the bundle (untrusted: size-capped, objects checked by git), pushes the
 * one branch (fast-forward only) to the task's repository with the owner's GITHUB_TOKEN in an HTTP header given
 * to git through its environment, and calls the GitHub API with the same token. The token is read from the
 * owner's secrets for each operation and never written to disk, a command line, a log or the sandbox.
 */
export class PullRequestService {
  /** The push or pull request running per task on this proxy; the next one waits for it. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: PullRequestServiceDeps) {}

  /** `POST /api/tasks/:id/push`. */
  async push(auth: AuthContext, id: string, req: PushTaskRequest = {}): Promise<PushTaskResponse> {
    const task = await this.deps.getTask(auth, id);
    const { summary: _summary, ...pushed } = await this.oneAtATime(task.id, () => this.pushNow(task, req.branch));
    return pushed;
  }

  /** `POST /api/tasks/:id/pull-request`. */
  async open(auth: AuthContext, id: string, req: CreatePullRequestRequest = {}): Promise<PullRequestInfo> {
    const task = await this.deps.getTask(auth, id);
    return this.oneAtATime(task.id, () => this.openNow(task, req));
  }

  /**
   * The task's main program exited (its sandbox is still there): open its pull request if it was created with
   * `pullRequest` (`rclaude run --pr`). A failure goes on the timeline; it never holds the task's end up.
   */
  async onMainExit(task: Task): Promise<void> {
    if (!task.pullRequestOnExit) return;
    try {
      await this.oneAtATime(task.id, () => this.openNow(task, {}));
    } catch (err) {
      const message = err instanceof AppError ? err.message : 'internal error';
      if (!(err instanceof AppError)) this.deps.log.error({ err, taskId: task.id }, 'pull request at exit failed');
      await this.deps.timeline.event(task.id, 'error', {
        message: `could not open the pull request: ${message}`.slice(0, 2000),
      });
    }
  }

  private async oneAtATime<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.running.get(taskId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.running.set(taskId, run);
    try {
      return await run;
    } finally {
      if (this.running.get(taskId) === run) this.running.delete(taskId);
    }
  }

  private githubRepoOf(task: Task, given?: string): GithubRepo {
    const named = given ?? task.githubRepo ?? null;
    if (named) {
      const [owner = '', name = ''] = named.split('/');
      return { owner, name };
    }
    const host = githubHost(this.deps.githubApiUrl);
    const parsed = task.repo ? parseGithubRepo(task.repo, host) : null;
    if (!parsed) {
      throw new AppError(
        'BAD_REQUEST',
        task.repo
          ? `${task.repo} is not a repository on ${host}: name the GitHub repository with --github-repo owner/name`
          : `task ${task.id} has no repository: pull requests need a task started with --repo`,
      );
    }
    return parsed;
  }

  private async token(task: Task): Promise<string> {
    const token = await this.deps.secret(task.owner, GITHUB_TOKEN_SECRET);
    if (!token) {
      throw new AppError(
        'BAD_REQUEST',
        'no GitHub token stored: run `rclaude secret set GITHUB_TOKEN` (a token that may push to the repository and open pull requests)',
      );
    }
    return token;
  }

  private async pushNow(task: Task, requested?: string): Promise<PushTaskResponse & { summary: string }> {
    const repo = task.repo;
    if (!repo) throw new AppError('BAD_REQUEST', `task ${task.id} has no repository: start it with --repo to push`);
    const kind = repoSourceKind(repo);
    const host = githubHost(this.deps.githubApiUrl);
    if (kind !== 'path' && !(kind === 'https' && parseGithubRepo(repo, host))) {
      throw new AppError(
        'BAD_REQUEST',
        `rclaude pushes to repositories on ${host} and to paths on the server's machine; ${repo} is neither`,
      );
    }
    const branch = requested ?? task.pushBranch ?? `rclaude/${task.id}`;
    if (task.branch && branch === task.branch) {
      throw new AppError('BAD_REQUEST', `push to a branch of its own, not the one the task started from (${branch})`);
    }
    const token = kind === 'path' ? null : await this.token(task);
    const sandboxId = await this.liveSandbox(task);
    const raw = await this.deps.rpc.call(
      sandboxId,
      'repo:commit',
      { branch, message: commitMessage(task), full: kind !== 'path' },
      COMMIT_TIMEOUT_MS,
    );
    const made = agentRepoCommitResultSchema.safeParse(raw);
    if (!made.success) throw new AppError('INTERNAL', 'the sandbox answered the commit request with nonsense');
    const { commit, bundlePath } = made.data;
    if (commit === null || bundlePath === null) {
      throw new AppError('CONFLICT', `nothing to push: the repository has not changed since task ${task.id} started`);
    }
    const delivered = await deliverBranch(this.deps.rpc, sandboxId, {
      repo,
      branch,
      commit,
      bundlePath,
      credential: token === null ? null : { username: 'x-access-token', token, secret: GITHUB_TOKEN_SECRET },
      owner: task.owner,
      access: this.deps.git ?? null,
      ownPushes: await pushedCommits(this.deps.tasks, task.id, branch),
    });
    const { upToDate } = delivered;
    this.deps.log.info({ taskId: task.id, branch, commit: delivered.commit, upToDate }, 'task pushed');
    await this.deps.timeline.event(task.id, 'push', { branch, commit: delivered.commit, pushedTo: repo });
    return { branch, commit: delivered.commit, pushedTo: repo, upToDate, summary: made.data.summary };
  }

  private async openNow(task: Task, req: CreatePullRequestRequest): Promise<PullRequestInfo> {
    const gh = this.githubRepoOf(task, req.githubRepo);
    const token = await this.token(task);
    const pushed = await this.pushNow(task, req.branch);
    const octokit = new Octokit({
      auth: token,
      baseUrl: this.deps.githubApiUrl.replace(/\/+$/, ''),
      userAgent: 'rclaude',
    });
    const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        throw githubError(what, err);
      }
    };
    const open = await call('list pull requests', () =>
      octokit.pulls.list({
        owner: gh.owner,
        repo: gh.name,
        head: `${gh.owner}:${pushed.branch}`,
        state: 'open',
        per_page: 1,
      }),
    );
    const existing = open.data[0];
    let info: PullRequestInfo;
    if (existing) {
      info = {
        url: existing.html_url,
        number: existing.number,
        repo: `${gh.owner}/${gh.name}`,
        branch: pushed.branch,
        base: existing.base.ref,
        commit: pushed.commit,
        created: false,
      };
    } else {
      const base =
        req.base ??
        task.branch ??
        (await call('read the repository', () => octokit.repos.get({ owner: gh.owner, repo: gh.name }))).data
          .default_branch;
      const events = await this.deps.tasks.listEvents(task.id);
      const lastResult = events.findLast((e) => e.type === 'result');
      const result = lastResult ? resultEventSchema.safeParse(lastResult.data) : null;
      const created = await call('open the pull request', () =>
        octokit.pulls.create({
          owner: gh.owner,
          repo: gh.name,
          head: pushed.branch,
          base,
          title: pullRequestTitle(task, req.title),
          body: pullRequestBody(task, {
            result: result?.success ? result.data.text : null,
            changes: pushed.summary,
            taskUrl: `${this.deps.publicUrl().replace(/\/+$/, '')}/tasks/${task.id}`,
          }),
          draft: req.draft ?? false,
        }),
      );
      info = {
        url: created.data.html_url,
        number: created.data.number,
        repo: `${gh.owner}/${gh.name}`,
        branch: pushed.branch,
        base,
        commit: pushed.commit,
        created: true,
      };
    }
    const updated = await this.deps.tasks.update(task.id, { pullRequest: info });
    if (updated) this.deps.timeline.publish(updated);
    await this.deps.timeline.event(task.id, 'pull_request', info);
    return info;
  }

  /** The sandbox of a task that has one running, else TASK_NOT_RUNNING saying to resume it. */
  private async liveSandbox(task: Task): Promise<string> {
    const current = await this.deps.tasks.get(task.id);
    const status = current?.status ?? task.status;
    const record = await this.deps.sandboxes.getByTask(task.id);
    if ((status !== 'running' && status !== 'idle') || !record || record.state === 'stopped') {
      const how =
        isTerminal(status) || status === 'hibernated' ? ` resume it first (\`rclaude resume ${task.id}\`), then` : '';
      throw new AppError(
        'TASK_NOT_RUNNING',
        `task ${task.id} is ${status}: pushing needs its sandbox running;${how || ' wait until it runs, then'} push again`,
      );
    }
    return record.sandboxId;
  }
}

/** The message of the commit the agent makes for a push. */
function commitMessage(task: Task): string {
  const first = task.prompt?.trim().split('\n', 1)[0]?.trim() ?? '';
  const subject = first
    ? first.length > 72
      ? `${first.slice(0, 71)}…`
      : first
    : `Changes from rclaude task ${task.name}`;
  return `${subject}\n\nCommitted by rclaude from task ${task.id}.\n`;
}

/** The commits a task has pushed to `branch` so far (its timeline's `push` events), newest last. */
export async function pushedCommits(
  tasks: Pick<TaskStore, 'listEvents'>,
  taskId: string,
  branch: string,
): Promise<string[]> {
  return (await tasks.listEvents(taskId))
    .filter((e) => e.type === 'push' && e.data.branch === branch && typeof e.data.commit === 'string')
    .map((e) => e.data.commit as string);
}

/** Where a task's branch went: the commit the branch now points to, and whether it pointed there already. */
export interface Delivered {
  commit: string;
  upToDate: boolean;
}

/**
 * Takes the bundle of a task's branch out of its sandbox (untrusted: size-capped, objects checked by git) and
 * moves `branch` of the task's repository to `commit`, fast-forward only: fetched into a local path, or pushed to
 * an https remote with `credential` (the bundle then holds the branch's whole history). The one way a task's
 * branch leaves its sandbox, for `rclaude push`/`pr` and for the push when a session ends.
 *
 * A branch that is not an ancestor of `commit` is left alone (someone else's work), unless it points at one of
 * `ownPushes`: the task's own earlier push, made from a sandbox whose later work a checkpoint did not hold (the
 * push when a task stops or hibernates comes after its checkpoint). Then the branch moves forward to a commit
 * with the workspace's tree and both as parents, so a resumed task keeps pushing to its branch.
 */
export async function deliverBranch(
  rpc: AgentRpc,
  sandboxId: string,
  push: {
    repo: string;
    branch: string;
    commit: string;
    bundlePath: string;
    credential: GitCredential | null;
    /** Whose push it is, and the proxy's git settings (rewrites, the egress check). */
    owner: string;
    access: GitAccess | null;
    ownPushes: readonly string[];
  },
): Promise<Delivered> {
  if (!branchNameSchema.safeParse(push.branch).success) {
    throw new AppError('BAD_REQUEST', `${push.branch} is not a branch name`);
  }
  const scratch = await mkdtemp(path.join(tmpdir(), 'rclaude-pr-'));
  try {
    const local = repoSourceKind(push.repo) === 'path';
    const pin = local ? null : await remoteTarget(push.repo, push.owner, push.access, 'FORBIDDEN', 'push to');
    const bundle = path.join(scratch, 'branch.bundle');
    await copyAgentFile(rpc, sandboxId, push.bundlePath, bundle, PUSH_BUNDLE_MAX_BYTES);
    return local
      ? await pushToPath(push.repo, push.branch, push.commit, bundle, push.ownPushes)
      : await pushBundleToRemote(push.repo, push.branch, push.commit, bundle, scratch, push.credential, {
          insteadOf: push.access?.insteadOf ?? [],
          ownPushes: push.ownPushes,
          pin,
        });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** rclaude as the author of the commit that joins a resumed task's work onto its earlier push. */
const JOIN_IDENTITY = {
  GIT_AUTHOR_NAME: 'rclaude',
  GIT_AUTHOR_EMAIL: 'rclaude@localhost',
  GIT_COMMITTER_NAME: 'rclaude',
  GIT_COMMITTER_EMAIL: 'rclaude@localhost',
};

/** A commit with `commit`'s tree on top of `onto` (the task's earlier push), both as parents. */
async function joinOnto(repoArgs: string[], onto: string, commit: string): Promise<string> {
  const made = await runGit(
    [
      ...repoArgs,
      'commit-tree',
      `${commit}^{tree}`,
      '-p',
      onto,
      '-p',
      commit,
      '-m',
      "rclaude: the resumed task's work, on top of its earlier push",
    ],
    JOIN_IDENTITY,
  );
  if (!made.ok) throw new AppError('INTERNAL', `git commit-tree failed: ${lastLine(made.stderr)}`);
  return made.stdout.trim();
}

/**
 * Brings `commit` from the bundle into the local repository `repoPath` as `refs/heads/<branch>`, creating the
 * branch or moving it forward (never back, never sideways; see deliverBranch for the task's own earlier push).
 */
async function pushToPath(
  repoPath: string,
  branch: string,
  commit: string,
  bundle: string,
  ownPushes: readonly string[],
): Promise<Delivered> {
  const inRepo = inRepoArgs(path.resolve(repoPath));
  const ref = `refs/heads/${branch}`;
  const old = (await runGit([...inRepo, 'rev-parse', '--verify', '-q', ref])).stdout.trim();
  if (old === commit) return { commit, upToDate: true };
  const fetched = await fetchBundleCommit(inRepo, bundle, commit, GIT_OPTS);
  if (!fetched.ok) throw new AppError('UPSTREAM_FAILED', `git could not take the branch: ${lastLine(fetched.stderr)}`);
  let target = commit;
  if (old && !(await runGit([...inRepo, 'merge-base', '--is-ancestor', old, commit])).ok) {
    if (!ownPushes.includes(old)) {
      throw new AppError(
        'CONFLICT',
        `push rejected: ${branch} in ${repoPath} has commits the task's branch does not have; push to another branch (--branch)`,
      );
    }
    target = await joinOnto(inRepo, old, commit);
  }
  const moved = await runGit([...inRepo, 'update-ref', '-m', 'rclaude: task push', ref, target, old]);
  if (!moved.ok) throw new AppError('CONFLICT', `push rejected: ${branch} in ${repoPath} moved meanwhile; push again`);
  return { commit: target, upToDate: false };
}

/**
 * Pushes `commit` from the bundle (the branch's whole history) to `url` as `refs/heads/<branch>`, fast-forward
 * only (see deliverBranch for the task's own earlier push), with the credential as an HTTP Authorization header
 * that git reads from its environment (git-remote.ts), so it is in no URL, argument, file or git message.
 */
export async function pushBundleToRemote(
  url: string,
  branch: string,
  commit: string,
  bundle: string,
  scratch: string,
  credential: GitCredential | null,
  opts: { insteadOf?: GitAccess['insteadOf']; ownPushes?: readonly string[]; pin?: string | null } = {},
): Promise<Delivered> {
  const repo = path.join(scratch, 'repo.git');
  const ref = `refs/heads/${branch}`;
  const init = await runGit(['init', '-q', '--bare', repo]);
  if (!init.ok) throw new AppError('INTERNAL', `git init failed: ${lastLine(init.stderr)}`);
  const inRepo = ['-C', repo];
  const fetched = await runGit([...inRepo, '-c', 'transfer.fsckObjects=true', 'fetch', '--no-tags', bundle, commit]);
  if (!fetched.ok) throw new AppError('UPSTREAM_FAILED', `git could not take the branch: ${lastLine(fetched.stderr)}`);
  const remote = (args: string[]) =>
    runRemoteGit([...inRepo, ...args], url, credential, opts.insteadOf, opts.pin ?? null);
  const pushTo = async (target: string): Promise<GitRun> => {
    const set = await runGit([...inRepo, 'update-ref', ref, target]);
    if (!set.ok) throw new AppError('INTERNAL', `git update-ref failed: ${lastLine(set.stderr)}`);
    return remote(['push', '--porcelain', url, `${ref}:${ref}`]);
  };
  const rejected = (run: GitRun) => /\[rejected\]|non-fast-forward|fetch first/.test(run.stdout + run.stderr);
  let target = commit;
  let pushed = await pushTo(target);
  if (!pushed.ok && rejected(pushed) && opts.ownPushes?.length) {
    // Is the remote branch the task's own earlier push? Then build on it.
    const theirs = await remote(['fetch', '--no-tags', '--no-write-fetch-head', url, `${ref}:refs/rclaude/remote`]);
    const tip = (await runGit([...inRepo, 'rev-parse', '--verify', '-q', 'refs/rclaude/remote'])).stdout.trim();
    if (theirs.ok && tip && opts.ownPushes.includes(tip)) {
      target = await joinOnto(inRepo, tip, commit);
      pushed = await pushTo(target);
    }
  }
  if (!pushed.ok) {
    const why = scrubCredential(lastLine(pushed.stderr) || lastLine(pushed.stdout), credential);
    if (rejected(pushed)) {
      throw new AppError(
        'CONFLICT',
        `push rejected: ${branch} on ${url} has commits the task's branch does not have; push to another branch (--branch)`,
      );
    }
    throw new AppError('UPSTREAM_FAILED', `git push to ${url} failed: ${why}`);
  }
  return { commit: target, upToDate: /^=\t/m.test(pushed.stdout) };
}

/** An AppError for a failed GitHub API call, with GitHub's own message. */
function githubError(what: string, err: unknown): AppError {
  // Octokit's RequestError, recognised by its shape (its class is not a dependency of this package).
  const status =
    err && typeof err === 'object' && 'status' in err && typeof err.status === 'number' ? err.status : null;
  if (status !== null) {
    const response = err && typeof err === 'object' && 'response' in err ? err.response : null;
    const data = response && typeof response === 'object' && 'data' in response ? response.data : null;
    const message =
      data && typeof data === 'object' && 'message' in data && typeof data.message === 'string'
        ? data.message
        : (err as Error).message;
    const errors =
      data && typeof data === 'object' && 'errors' in data && Array.isArray(data.errors)
        ? data.errors
            .map((e: unknown) => (e && typeof e === 'object' && 'message' in e ? String(e.message) : ''))
            .filter(Boolean)
            .join('; ')
        : '';
    const hint =
      status === 401
        ? ': store a valid token with `rclaude secret set GITHUB_TOKEN`'
        : status === 404
          ? ' (is the repository right, and may the token see it?)'
          : '';
    return new AppError(
      'UPSTREAM_FAILED',
      `GitHub refused to ${what}: ${status} ${message}${errors ? ` (${errors})` : ''}${hint}`.slice(0, 1000),
    );
  }
  return new AppError('UPSTREAM_FAILED', `could not reach GitHub to ${what}: ${(err as Error).message}`.slice(0, 500));
}
