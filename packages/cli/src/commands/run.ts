import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type CreateTaskRequest, isResumable, type ProviderName, providerNames, type Task } from '@rclaude/protocol';
import { ApiClient } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText, suggestCommand } from '../output.js';
import { resolveTarget } from '../settings.js';
import { type AttachOutcome, attachTerminal } from '../terminal/attach.js';
import { parseDetachKeys } from '../terminal/keys.js';
import { viewPrompt } from '../terminal/prompt-view.js';

export interface RunOptions {
  server?: string;
  provider?: string;
  repo?: string;
  branch?: string;
  /** `--push` alone is true; `--push BRANCH` names the branch. */
  push?: boolean | string;
  /** `--pr`: push and open a pull request when the program exits. */
  pr?: boolean;
  /** `--github-repo owner/name`: where pull requests go when --repo does not name a GitHub repository. */
  githubRepo?: string;
  /** `--allow-host`, repeated: hosts the task adds to the server's egress allow-list. */
  allowHost?: string[];
  name?: string;
  prompt?: string;
  detach?: boolean;
  detachKeys: string;
  json?: boolean;
  /** `--here`: start from this directory's git working tree (uploaded) instead of an empty workspace. */
  here?: boolean;
  /** `--continue` (with --here): resume this directory's newest local Claude Code conversation in the sandbox. */
  continue?: boolean;
}

/** `rclaude run`: create a task and attach this terminal to it; exits with the remote exit code. */
export async function runCommand(command: string[], opts: RunOptions): Promise<number> {
  if (opts.provider && !providerNames.includes(opts.provider as ProviderName)) {
    throw new CliError(`unknown provider "${opts.provider}"`, 1, `use one of: ${providerNames.join(', ')}`);
  }
  if (opts.continue && !opts.here) {
    throw new CliError('--continue goes with --here', 1, 'rclaude run --here --continue');
  }
  const detachKeys = parseDetachKeys(opts.detachKeys);
  const { server, token } = resolveTarget(opts);
  const api = new ApiClient(server, token);
  const req: CreateTaskRequest = {
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.provider ? { provider: opts.provider as ProviderName } : {}),
    ...(opts.repo ? { repo: repoArgument(opts.repo) } : {}),
    ...(opts.branch ? { branch: opts.branch } : {}),
    ...(opts.push ? { push: opts.push } : {}),
    ...(opts.pr ? { pullRequest: true } : {}),
    ...(opts.githubRepo ? { githubRepo: opts.githubRepo } : {}),
    ...(opts.allowHost?.length ? { allowHosts: opts.allowHost } : {}),
    ...(opts.prompt ? { prompt: opts.prompt } : command.length ? { command } : {}),
    ...(process.stdout.columns && process.stdout.rows
      ? { cols: process.stdout.columns, rows: process.stdout.rows }
      : {}),
  };
  const task = opts.here ? await startHere(api, command, opts, req) : await api.createTask(req);
  if (opts.detach) {
    process.stdout.write(opts.json ? `${safeJson(task)}\n` : `${safeText(task.id)}\n`);
    return EXIT.ok;
  }
  if (opts.prompt) {
    return viewPrompt({ api, task, json: opts.json === true, out: process.stdout, err: process.stderr });
  }
  const outcome = await attachTerminal({
    server,
    token,
    task,
    sessionId: task.mainSessionId,
    from: 0,
    readOnly: false,
    detachKeys,
    startProgress: true,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return report(await settleAfterExit(api, task, task.mainSessionId, outcome), task.id);
}

/**
 * `rclaude run --here`: packs this directory's git working tree (committed, changed and untracked files git
 * does not ignore, and `.git`), with `--continue` its newest Claude Code conversation, and starts a task from
 * that upload.
 */
async function startHere(api: ApiClient, command: string[], opts: RunOptions, req: CreateTaskRequest): Promise<Task> {
  if (opts.repo || opts.branch || opts.push) {
    throw new CliError('--here uploads this directory: it does not go with --repo, --branch or --push');
  }
  const { packWorkspace, repoRoot, importArchive } = await import('../handoff/local-workspace.js');
  const root = await repoRoot(process.cwd());
  const progress = process.stderr.isTTY === true && opts.json !== true;
  if (progress) process.stderr.write(`packing ${root}…\r`);
  const packed = await packWorkspace(root, { conversation: opts.continue === true });
  for (const s of packed.skipped.slice(0, 20)) process.stderr.write(`left out: ${safeText(s)}\n`);
  let sent = 0;
  const total = packed.bytes;
  const body = importArchive(
    packed,
    {
      ...(req.name ? { name: req.name } : {}),
      ...(req.provider ? { provider: req.provider } : {}),
      ...(req.allowHosts ? { allowHosts: req.allowHosts } : {}),
      ...(req.prompt ? { prompt: req.prompt } : command.length ? { command } : {}),
      ...(req.cols && req.rows ? { cols: req.cols, rows: req.rows } : {}),
    },
    (n) => {
      sent += n;
      if (progress) process.stderr.write(`uploading ${packed.files} files: ${mib(sent)} of ${mib(total)} MiB\r`);
    },
  );
  const task = await api.call('importTask', { body: Readable.toWeb(body) as ReadableStream<Uint8Array> });
  if (progress) process.stderr.write(`\x1b[2Kuploaded ${packed.files} files (${mib(total)} MiB) from ${root}\n`);
  return task;
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

/** How long, at most, the CLI waits for the server to record a task's end after its program exited. */
const SETTLE_MS = 30_000;

/**
 * When a task's main program exits, the server checkpoints its workspace, then records the end and releases
 * the sandbox. Waits for that record (at most {@link SETTLE_MS}, saying why after a moment), so what runs after
 * `rclaude run` sees the task ended and its work saved. A prompt task keeps its sandbox after its program
 * exits, and another session's exit ends nothing: no wait.
 */
export async function settleAfterExit(
  api: ApiClient,
  task: Task,
  sessionId: string,
  outcome: AttachOutcome,
): Promise<AttachOutcome> {
  if (outcome.kind !== 'exited' || task.prompt !== null || sessionId !== task.mainSessionId) return outcome;
  const started = Date.now();
  let said = false;
  while (Date.now() - started < SETTLE_MS) {
    const now = await api.getTask(task.id).catch(() => null);
    if (!now || now.endedAt) return outcome;
    if (!said && Date.now() - started > 500 && process.stderr.isTTY) {
      process.stderr.write("saving the task's work before its sandbox goes…\r\n");
      said = true;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return outcome;
}

/** Prints how an attachment ended and returns the exit code for it. */
export function report(outcome: AttachOutcome, taskId: string): number {
  switch (outcome.kind) {
    case 'exited':
      return outcome.exitCode;
    case 'detached':
      process.stderr.write(
        `\r\ndetached; the task keeps running. Back with: ${suggestCommand('rclaude', 'attach', taskId)}\r\n`,
      );
      return EXIT.ok;
    case 'dropped':
      process.stderr.write(
        `\r\nconnection closed; the task keeps running. Back with: ${suggestCommand('rclaude', 'attach', taskId)}\r\n`,
      );
      return EXIT.ok;
    case 'ended': {
      const { task } = outcome;
      const why = task.statusReason ? `: ${task.statusReason}` : '';
      if (task.status === 'hibernated') {
        // Not a failure: its work is checkpointed and attaching again brings it back.
        process.stderr.write(
          `\r\ntask ${taskId} ${safeText(task.statusReason ?? 'hibernated')}; its work is saved. Back with: ${suggestCommand('rclaude', 'attach', taskId)}\r\n`,
        );
        return EXIT.ok;
      }
      throw new CliError(
        `task ${task.id} ${task.status}${why}`,
        task.exitCode ?? EXIT.error,
        isResumable(task.status)
          ? `${suggestCommand('rclaude', 'resume', task.id)} continues it in a new sandbox from its latest checkpoint, if it has one`
          : undefined,
      );
    }
  }
}

/**
 * A repository as the server wants it: URLs as given, a local directory (`.`, `../app`) as an absolute path,
 * since the server (on this machine, for the local provider) resolves nothing relative to your shell.
 */
export function repoArgument(repo: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(repo) || path.isAbsolute(repo)) return repo;
  return existsSync(repo) ? path.resolve(repo) : repo;
}
