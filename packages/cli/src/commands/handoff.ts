import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type CheckpointManifest, isTerminal, MAX_FORKS, type Task } from '@rclaude/protocol';
import type { ApiClient } from '../api.js';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { fastImportStream, gitWithInput, workspaceEntries } from '../handoff/git-import.js';
import { claudeProjectDir, git, repoRoot } from '../handoff/local-workspace.js';
import { safeJson, safeText, suggestCommand } from '../output.js';

interface Common {
  server?: string;
  json?: boolean;
}

export interface ForkOptions extends Common {
  count?: string;
  prompt?: string;
}

/** `rclaude fork ID [-n N] [-p PROMPT]`: new tasks from the task's latest checkpoint; prints their ids. */
export async function forkCommand(ref: string, opts: ForkOptions): Promise<number> {
  const count = opts.count === undefined ? 1 : Number(opts.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORKS) {
    throw new CliError(`-n must be a whole number from 1 to ${MAX_FORKS} (got ${safeText(String(opts.count))})`);
  }
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (!opts.json && process.stderr.isTTY) {
    process.stderr.write(
      task.status === 'running' || task.status === 'idle'
        ? `checkpointing ${task.id}, then starting ${count} fork${count > 1 ? 's' : ''}…\n`
        : `starting ${count} fork${count > 1 ? 's' : ''} of ${task.id} from its latest checkpoint…\n`,
    );
  }
  const forked = await api.call('forkTask', {
    params: { id: task.id },
    body: { count, ...(opts.prompt ? { prompt: opts.prompt } : {}) },
  });
  if (opts.json) {
    process.stdout.write(`${safeJson(forked, 2)}\n`);
    return EXIT.ok;
  }
  for (const t of forked.tasks) process.stdout.write(`${safeText(t.id)}\n`);
  if (process.stderr.isTTY) {
    const first = forked.tasks[0]?.id ?? 'ID';
    process.stderr.write(
      `from checkpoint ${safeText(forked.checkpointId)}; watch one with ${suggestCommand('rclaude', 'attach', first)}\n`,
    );
  }
  return EXIT.ok;
}

export interface PullOptions extends Common {
  apply?: boolean;
  /** With --apply: also write files that tools on this machine run or load by themselves (see CONFIG_PATHS). */
  allowConfig?: boolean;
}

/** What `rclaude pull --json` prints. */
interface PullResult {
  taskId: string;
  checkpointId: string;
  /** The branch made (none with --apply). */
  branch: string | null;
  /** The commit the changes sit on (the sandbox's starting commit when this clone has it). */
  base: string | null;
  /** Files the changes touch. */
  changed: string[];
  applied: boolean;
  conversation: { sessionId: string; folder: string; resume: string } | null;
}

/**
 * `rclaude pull ID [DIR]`: the task's work into a local clone of its repository. Reads the task's latest
 * checkpoint (a running task is checkpointed first). The workspace becomes one commit, on branch
 * `rclaude/<id>`, or, with --apply, changes in the working tree; the conversation goes into Claude Code's folder
 * for DIR, so `claude --resume <id>` there continues it. Only this clone's own git configuration runs: the
 * sandbox's `.git` is read as data, never used as a repository.
 */
export async function pullCommand(ref: string, dir: string | undefined, opts: PullOptions): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const root = await repoRoot(path.resolve(dir ?? '.'));
  const say = (line: string) => {
    if (!opts.json && process.stderr.isTTY) process.stderr.write(`${line}\n`);
  };
  const branch = `rclaude/${task.id}`;
  if (!opts.apply && (await refExists(root, `refs/heads/${branch}`))) {
    throw new CliError(
      `branch ${branch} exists already in ${root}`,
      EXIT.error,
      `delete it (git branch -D ${branch}) to pull again, or use --apply`,
    );
  }
  const checkpointId = await latestCheckpoint(api, task, say);
  const manifest = await api.call('getCheckpointManifest', { params: { id: task.id, checkpoint: checkpointId } });
  const blob = (hash: string) => fetchBlob(api, task.id, checkpointId, hash);

  // ---- the changes ------------------------------------------------------------------------------------
  const base = await baseCommit(root, manifest, blob, say);
  const entries = await withoutIgnored(root, manifest, blob);
  const target = opts.apply ? `refs/rclaude/pull-${task.id}` : `refs/heads/${branch}`;
  // A scratch ref an interrupted --apply left behind would refuse the new commit.
  if (opts.apply) await git(root, ['update-ref', '-d', target]).catch(() => undefined);
  say(`rebuilding ${entries.length} files of ${task.id} as a commit…`);
  const files = entries.flatMap((e) => (e.type === 'file' ? [e.hash] : []));
  const imported = await gitWithInput(
    root,
    ['fast-import', '--quiet', '--done'],
    fastImportStream({
      ref: target,
      parent: base,
      message: `rclaude: work of task ${task.id} (${task.name.slice(0, 100)})\n\nFrom checkpoint ${checkpointId}.\n`,
      entries,
      read: inOrder(files, blob),
    }),
  );
  if (imported.code !== 0) throw new CliError(`git fast-import failed: ${imported.stderr.trim().slice(0, 500)}`);
  const commit = (await git(root, ['rev-parse', '--verify', target])).trim();
  const changed = base
    ? (await git(root, ['diff', '--name-only', '-z', base, commit])).split('\0').filter(Boolean)
    : entries.map((e) => e.path);

  if (opts.apply) {
    try {
      // What a sandbox wrote runs here only when a person chooses to: files that Claude Code, editors or the
      // shell load by themselves (hooks, MCP servers, direnv) do not land in the working tree unasked.
      const config = changed.filter(isConfigPath);
      if (config.length > 0 && !opts.allowConfig) {
        throw new CliError(
          `not applied: the task changed files that tools here run or load by themselves: ${config.map(safeText).join(', ')}`,
          EXIT.error,
          'pull as a branch (without --apply) and review them, or pass --allow-config to apply them too',
        );
      }
      await applyToWorkingTree(root, base, commit, changed);
    } finally {
      await git(root, ['update-ref', '-d', target]).catch(() => undefined);
    }
  }

  // ---- the conversation --------------------------------------------------------------------------------
  const conversation = await pullConversation(root, manifest, blob);

  const result: PullResult = {
    taskId: task.id,
    checkpointId,
    branch: opts.apply ? null : branch,
    base,
    changed,
    applied: opts.apply === true,
    conversation,
  };
  if (opts.json) {
    process.stdout.write(`${safeJson(result, 2)}\n`);
    return EXIT.ok;
  }
  const where = opts.apply ? 'in the working tree' : `on branch ${branch}`;
  process.stdout.write(`${changed.length} changed file${changed.length === 1 ? '' : 's'} ${where} of ${root}\n`);
  if (conversation) {
    process.stdout.write(
      `the conversation is in ${safeText(conversation.folder)}; continue it with:\n  cd ${shellWord(root)} && ${conversation.resume}\n`,
    );
  } else {
    process.stdout.write('the task has no Claude Code conversation to bring\n');
  }
  return EXIT.ok;
}

/** The task's newest checkpoint id, taking one first when the task runs. */
async function latestCheckpoint(api: ApiClient, task: Task, say: (line: string) => void): Promise<string> {
  if (task.status === 'running' || task.status === 'idle') {
    say(`checkpointing ${task.id}…`);
    return (await api.createCheckpoint(task.id)).id;
  }
  const [latest] = await api.listCheckpoints(task.id);
  if (!latest) {
    throw new CliError(
      `task ${task.id} has no checkpoint to pull from${isTerminal(task.status) ? ': its work was not saved before it ended' : ' yet'}`,
    );
  }
  return latest.id;
}

async function fetchBlob(api: ApiClient, taskId: string, checkpoint: string, hash: string): Promise<Buffer> {
  const res = await api.call('getCheckpointBlob', { params: { id: taskId, checkpoint, hash } });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (createHash('sha256').update(bytes).digest('hex') !== hash) {
    throw new CliError(
      `a file of checkpoint ${checkpoint} arrived damaged (hash ${hash.slice(0, 12)}…)`,
      EXIT.error,
      'try again',
    );
  }
  return bytes;
}

/** Blobs in the order asked, a few fetched ahead. */
async function* inOrder(hashes: string[], get: (hash: string) => Promise<Buffer>, ahead = 8): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let next = 0;
  const fill = () => {
    while (next < hashes.length && queue.length < ahead) {
      const p = get(hashes[next++] ?? '');
      p.catch(() => undefined); // reported when its turn comes
      queue.push(p);
    }
  };
  fill();
  while (queue.length > 0) {
    const head = queue.shift();
    if (!head) break;
    const bytes = await head;
    fill();
    yield bytes;
  }
}

async function refExists(root: string, ref: string): Promise<boolean> {
  return (await gitWithInput(root, ['rev-parse', '--verify', '-q', ref], '')).code === 0;
}

/**
 * The commit the changes go on: the sandbox's HEAD, or the commit its task started from (`rclaude.base`), when
 * this clone has it; else this clone's HEAD (the sandbox's own commits since are then folded into the one commit).
 */
async function baseCommit(
  root: string,
  manifest: CheckpointManifest,
  blob: (hash: string) => Promise<Buffer>,
  say: (line: string) => void,
): Promise<string | null> {
  const file = async (p: string): Promise<string | null> => {
    const e = manifest.entries.find((x) => x.root === 'workspace' && x.path === p && x.type === 'file');
    return e?.type === 'file' && e.size < 10 * 1024 * 1024 ? (await blob(e.hash)).toString('utf8') : null;
  };
  const candidates: string[] = [];
  const head = (await file('.git/HEAD'))?.trim() ?? '';
  const symbolic = /^ref: (refs\/[A-Za-z0-9._/-]+)$/.exec(head)?.[1];
  if (/^[0-9a-f]{40}$/.test(head)) candidates.push(head);
  else if (symbolic) {
    const loose = (await file(`.git/${symbolic}`))?.trim();
    if (loose && /^[0-9a-f]{40}$/.test(loose)) candidates.push(loose);
    const packed = await file('.git/packed-refs');
    const line = packed?.split('\n').find((l) => l.endsWith(` ${symbolic}`));
    const sha = line?.slice(0, 40);
    if (sha && /^[0-9a-f]{40}$/.test(sha)) candidates.push(sha);
  }
  const config = await file('.git/config');
  const started = config ? /\[rclaude\][^[]*?\bbase\s*=\s*([0-9a-f]{40})/.exec(config)?.[1] : undefined;
  if (started) candidates.push(started);
  for (const sha of candidates) {
    if ((await gitWithInput(root, ['cat-file', '-e', `${sha}^{commit}`], '')).code === 0) return sha;
  }
  const local = await gitWithInput(root, ['rev-parse', '--verify', '-q', 'HEAD'], '');
  if (local.code !== 0) return null;
  say(
    `this clone does not have the sandbox's commit${candidates[0] ? ` ${candidates[0].slice(0, 12)}` : ''}: the changes are taken against your HEAD`,
  );
  return local.stdout.trim();
}

/**
 * The workspace's files without those git ignores, judged by the task's own `.gitignore` files (written to a
 * scratch folder) and this clone's excludes.
 */
async function withoutIgnored(
  root: string,
  manifest: CheckpointManifest,
  blob: (hash: string) => Promise<Buffer>,
): Promise<ReturnType<typeof workspaceEntries>> {
  const entries = workspaceEntries(manifest);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rclaude-pull-'));
  try {
    for (const e of entries) {
      if (e.type !== 'file' || (e.path !== '.gitignore' && !e.path.endsWith('/.gitignore'))) continue;
      const dest = path.join(scratch, e.path);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.writeFile(dest, await blob(e.hash));
    }
    const checked = await gitWithInput(
      root,
      ['--git-dir', path.join(root, '.git'), '--work-tree', scratch, 'check-ignore', '--no-index', '-z', '--stdin'],
      `${entries.map((e) => e.path).join('\0')}\0`,
    );
    if (checked.code > 1) throw new CliError(`git check-ignore failed: ${checked.stderr.trim().slice(0, 500)}`);
    const ignored = new Set(checked.stdout.split('\0').filter(Boolean));
    return entries.filter((e) => !ignored.has(e.path));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Puts the changes from `base` to `commit` in the working tree. Refuses (nothing changed) when uncommitted
 * local changes or untracked files touch the same paths, listing them; git apply is all or nothing.
 */
async function applyToWorkingTree(root: string, base: string | null, commit: string, changed: string[]): Promise<void> {
  if (!base)
    throw new CliError('--apply needs a commit in this clone to apply the changes to; pull as a branch instead');
  const status = (await git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all'])).split('\0');
  const dirty = new Set<string>();
  for (let i = 0; i < status.length; i++) {
    const line = status[i] ?? '';
    if (line.length < 4) continue;
    dirty.add(line.slice(3));
    if (line[0] === 'R' || line[0] === 'C') dirty.add(status[++i] ?? ''); // the rename's source follows
  }
  const clash = changed.filter((p) => dirty.has(p));
  if (clash.length > 0) {
    throw new CliError(
      `not applied: your uncommitted changes touch ${clash.length} of the same file${clash.length === 1 ? '' : 's'}:\n${clash
        .slice(0, 50)
        .map((p) => `  ${safeText(p)}`)
        .join('\n')}`,
      EXIT.error,
      'commit or stash them first (git stash), or pull as a branch (without --apply)',
    );
  }
  const patch = await git(root, ['diff', '--binary', '--no-renames', base, commit]);
  if (!patch) return;
  const applied = await gitWithInput(root, ['apply', '--whitespace=nowarn'], patch);
  if (applied.code !== 0) {
    throw new CliError(
      `not applied: the changes do not apply to your working tree: ${applied.stderr.trim().slice(0, 500)}`,
      EXIT.error,
      'pull as a branch (without --apply) and merge it',
    );
  }
}

/**
 * Paths of a working tree that run or are loaded without anyone opening them: Claude Code's project settings
 * (hooks) and MCP servers, editor tasks, direnv, git attributes (filters) and submodules.
 */
const CONFIG_PATHS = ['.claude/', '.mcp.json', '.envrc', '.vscode/', '.idea/', '.gitattributes', '.gitmodules'];

export function isConfigPath(p: string): boolean {
  const lower = p.toLowerCase();
  return CONFIG_PATHS.some((c) =>
    c.endsWith('/') ? lower.startsWith(c) || lower.includes(`/${c}`) : lower === c || lower.endsWith(`/${c}`),
  );
}

/**
 * Writes the checkpoint's conversation folder (root `claude`) into Claude Code's folder for `root`, each
 * line's `cwd` moved from the sandbox's workspace to `root`. The session id stays, so `claude --resume` finds it.
 */
async function pullConversation(
  root: string,
  manifest: CheckpointManifest,
  blob: (hash: string) => Promise<Buffer>,
): Promise<PullResult['conversation']> {
  const sessionId = manifest.claudeSessionId;
  if (!sessionId) return null;
  const folder = claudeProjectDir(root);
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  for (const e of manifest.entries) {
    if (e.root !== 'claude') continue;
    // Only this conversation: its transcript and its own folder. Nothing else a sandbox put in its Claude folder
    // reaches this machine, and no other conversation of this folder is replaced.
    if (e.path !== `${sessionId}.jsonl` && e.path !== sessionId && !e.path.startsWith(`${sessionId}/`)) continue;
    const dest = path.join(folder, e.path);
    if (e.type === 'dir') await fs.mkdir(dest, { recursive: true, mode: 0o700 });
    if (e.type !== 'file') continue; // links are not brought to the laptop
    await fs.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    let bytes = await blob(e.hash);
    if (e.path.endsWith('.jsonl')) bytes = Buffer.from(moveCwd(bytes.toString('utf8'), manifest.workspace, root));
    await fs.rm(dest, { force: true }); // never written through a link that is there
    await fs.writeFile(dest, bytes, { mode: 0o600, flag: 'wx' });
  }
  return { sessionId, folder, resume: `claude --resume ${sessionId}` };
}

/** Each JSON line's `cwd` under `from` becomes the same place under `to`; other lines are kept as they are. */
export function moveCwd(text: string, from: string, to: string): string {
  if (!from) return text;
  return text
    .split('\n')
    .map((line) => {
      if (!line.includes('"cwd"')) return line;
      try {
        const obj: unknown = JSON.parse(line);
        if (!obj || typeof obj !== 'object' || !('cwd' in obj) || typeof obj.cwd !== 'string') return line;
        const cwd = obj.cwd;
        if (cwd !== from && !cwd.startsWith(`${from}/`)) return line;
        return JSON.stringify({ ...obj, cwd: to + cwd.slice(from.length) });
      } catch {
        return line;
      }
    })
    .join('\n');
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
