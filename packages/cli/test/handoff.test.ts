/**
 * Moving work between a laptop and sandboxes, end to end (docs/moving-work.md): the real server (embedded
 * storage, local checkpoint store), agents in bubblewrap sandboxes, the real CLI through its linked bin, real
 * git, and the real Claude Code (in the sandbox and on the "laptop") against the fake model on loopback.
 *
 * - `rclaude run --here` uploads a clone: committed, changed and untracked files, not ignored ones; with
 *   `--continue` the sandbox's Claude Code resumes the local conversation.
 * - `rclaude pull` brings the changes back as a branch or (`--apply`) working-tree edits, refusing a clash, and
 *   the conversation into the laptop's Claude Code, which resumes it.
 * - `rclaude fork` starts tasks from the checkpoint, each with the files and the conversation, and they keep
 *   them when the original is deleted.
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Checkpoint, CheckpointManifest, ForkTaskResponse, Task } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const API_KEY = 'sk-ant-test-rclaude-0123456789abcdefghij';
const CLAUDE = path.resolve(__dirname, '../../../node_modules/@anthropic-ai/claude-code/bin/claude.exe');
const ASK = 'which word did I ask you to remember?';

let server: RclaudeServer;
let fake: FakeAnthropic;
let scratch: string;
/** The laptop's HOME (its Claude Code folders), one for the original clone and one for the pulling one. */
let home: string;
let otherHome: string;
let repo: string;

beforeAll(async () => {
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      const text = lastUserText(body);
      if (text.includes('which word')) return 'You asked me to remember a word.';
      if (text.includes('remember')) return 'Noted: I will remember it.';
      return undefined;
    },
  });
  server = await startRclaudeServer({
    env: { ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: API_KEY },
    timeoutMs: 60_000,
  });
  scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-handoff-')));
  home = path.join(scratch, 'home');
  otherHome = path.join(scratch, 'other-home');
  fs.mkdirSync(home);
  fs.mkdirSync(otherHome);
  // A clone with a commit, an uncommitted edit, an untracked file and an ignored one.
  repo = path.join(scratch, 'app');
  fs.mkdirSync(repo);
  sh(repo, 'git', 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'committed.txt'), 'committed\n');
  fs.writeFileSync(path.join(repo, '.gitignore'), 'ignored.txt\n');
  sh(repo, 'git', 'add', '.');
  sh(repo, 'git', 'commit', '-qm', 'first commit');
  fs.appendFileSync(path.join(repo, 'committed.txt'), 'edited locally\n');
  fs.writeFileSync(path.join(repo, 'untracked.txt'), 'untracked\n');
  fs.writeFileSync(path.join(repo, 'ignored.txt'), 'ignored\n');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await fake?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function sh(cwd: string, cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });
}

const cli = (args: string[], opts: { cwd?: string; home?: string } = {}) =>
  runCli(args, {
    env: { ...server.cliEnv(), HOME: opts.home ?? home },
    timeoutMs: 180_000,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });

/** The laptop's own Claude Code, non-interactive, against the fake model. */
function localClaude(cwd: string, homeDir: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE, args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: homeDir,
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_API_KEY: API_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        IS_SANDBOX: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function api<T>(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

const getTask = async (id: string) => (await api<Task>('GET', `/api/tasks/${id}`)).body;
const statusIs = (id: string, status: Task['status'], withinMs = 120_000) =>
  until(`task ${id} to be ${status}`, async () => ((await getTask(id)).status === status ? true : null), withinMs);

async function exec(id: string, script: string): Promise<string> {
  const r = await cli(['exec', id, '--', 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The first model call after `from` asking for the word, and whether it carried the earlier conversation. */
function askedWithHistory(from: number): boolean[] {
  return fake
    .mainCalls()
    .slice(from)
    .filter((c) => lastUserText(c.body).includes('which word'))
    .map((c) => JSON.stringify(c.body.messages).includes('please remember the word PELICAN'));
}

/** The task started by `run --here --continue`, shared by the pull and fork cases. */
let continued: Task;

describe('rclaude run --here', () => {
  it("starts a task on the clone's committed, changed and untracked files, not its ignored ones", async () => {
    const r = await cli(
      [
        'run',
        '--here',
        '--',
        'sh',
        '-c',
        'cat committed.txt untracked.txt; test -e ignored.txt && echo ignored-came || echo no-ignored; git --no-pager log --format=%s; git status --porcelain',
      ],
      { cwd: path.join(repo) },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('committed\r\nedited locally\r\nuntracked\r\nno-ignored\r\nfirst commit');
    // The sandbox's git sees the same state: the edit uncommitted, the new file untracked.
    expect(r.stdout).toContain(' M committed.txt');
    expect(r.stdout).toContain('?? untracked.txt');
  });

  it('with --continue, the sandbox resumes the local conversation: the model sees the earlier messages', async () => {
    const local = await localClaude(repo, home, ['-p', 'please remember the word PELICAN']);
    expect(local.out).toContain('Noted: I will remember it.');
    const before = fake.mainCalls().length;
    const r = await cli(['run', '--here', '--continue', '--json', '--detach', '-p', ASK], { cwd: repo });
    expect(r.code, r.stderr).toBe(0);
    continued = JSON.parse(r.stdout) as Task;
    await statusIs(continued.id, 'idle');
    expect(askedWithHistory(before)).toEqual([true]);
  });

  it('refuses plainly outside a git repository', async () => {
    const r = await cli(['run', '--here'], { cwd: scratch });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not in a git repository/);
  });
});

describe('rclaude pull', () => {
  let clone: string;

  beforeAll(async () => {
    expect(continued, 'the --continue case runs first').toBeTruthy();
    await exec(
      continued.id,
      'echo "changed in the sandbox" >> committed.txt && echo new > new-file.txt && echo junk > ignored.txt && chmod +x new-file.txt',
    );
    clone = path.join(scratch, 'clone');
    sh(scratch, 'git', 'clone', '-q', repo, clone);
  });

  it('brings the changes as branch rclaude/<id> and the conversation, which the local claude resumes', async () => {
    const r = await cli(['pull', continued.id, clone, '--json'], { home: otherHome });
    expect(r.code, r.stderr).toBe(0);
    const pulled = JSON.parse(r.stdout) as { branch: string; changed: string[]; conversation: { sessionId: string } };
    const branch = `rclaude/${continued.id}`;
    expect(pulled.branch).toBe(branch);
    expect(pulled.changed.sort()).toEqual(['committed.txt', 'new-file.txt', 'untracked.txt']);
    expect(sh(clone, 'git', 'show', `${branch}:committed.txt`)).toBe(
      'committed\nedited locally\nchanged in the sandbox\n',
    );
    expect(sh(clone, 'git', 'ls-tree', branch, 'new-file.txt')).toMatch(/^100755 blob/);
    expect(sh(clone, 'git', 'log', '--format=%s', '-1', `${branch}~1`).trim()).toBe('first commit');
    // Nothing else moved: the clone's own branch, index and working tree are as they were.
    expect(sh(clone, 'git', 'status', '--porcelain')).toBe('');
    expect(sh(clone, 'git', 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('main');

    const before = fake.mainCalls().length;
    const local = await localClaude(clone, otherHome, ['-p', ASK, '--resume', pulled.conversation.sessionId]);
    expect(local.out).toContain('You asked me to remember a word.');
    expect(askedWithHistory(before)).toEqual([true]);

    // A second pull does not overwrite the branch.
    const again = await cli(['pull', continued.id, clone], { home: otherHome });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`branch ${branch} exists already`);
  });

  it('--apply puts the changes in the working tree, and refuses a clash with local edits, losing nothing', async () => {
    const work = path.join(scratch, 'apply');
    sh(scratch, 'git', 'clone', '-q', repo, work);
    fs.appendFileSync(path.join(work, 'committed.txt'), 'my own edit\n');
    const refused = await cli(['pull', continued.id, work, '--apply'], { home: otherHome });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not applied: your uncommitted changes touch 1 of the same file/);
    expect(refused.stderr).toContain('committed.txt');
    expect(fs.readFileSync(path.join(work, 'committed.txt'), 'utf8')).toBe('committed\nmy own edit\n');
    expect(fs.existsSync(path.join(work, 'new-file.txt'))).toBe(false);

    sh(work, 'git', 'checkout', '--', 'committed.txt');
    const applied = await cli(['pull', continued.id, work, '--apply'], { home: otherHome });
    expect(applied.code, applied.stderr).toBe(0);
    expect(fs.readFileSync(path.join(work, 'new-file.txt'), 'utf8')).toBe('new\n');
    expect(sh(work, 'git', 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual([
      ' M committed.txt',
      '?? new-file.txt',
      '?? untracked.txt',
    ]);
    expect(sh(work, 'git', 'branch', '--list', 'rclaude/*')).toBe('');
  });
});

describe('rclaude fork', () => {
  it('starts N tasks from the checkpoint with its files and conversation; deleting the original keeps theirs', async () => {
    const before = fake.mainCalls().length;
    const r = await cli(['fork', continued.id, '-n', '2', '-p', ASK, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const forked = JSON.parse(r.stdout) as ForkTaskResponse;
    expect(forked.tasks).toHaveLength(2);
    for (const t of forked.tasks) expect(t.forkOf).toBe(continued.id);
    const listed = (await api<{ tasks: Task[] }>('GET', `/api/tasks?forkOf=${continued.id}`)).body.tasks;
    expect(listed.map((t) => t.id).sort()).toEqual(forked.tasks.map((t) => t.id).sort());
    for (const t of forked.tasks) await statusIs(t.id, 'idle');
    // Each fork answered the new prompt in the continued conversation.
    expect(askedWithHistory(before)).toEqual([true, true]);

    // Make every stored blob older than the collection's grace, so deleting the original could free them.
    const blobs = path.join(server.cliEnv().RCLAUDE_DATA_DIR ?? '', 'checkpoints');
    const old = new Date(Date.now() - 10 * 60_000);
    const touch = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) touch(p);
        else fs.utimesSync(p, old, old);
      }
    };
    touch(blobs);
    expect((await api('DELETE', `/api/tasks/${continued.id}`)).status).toBe(204);

    // Each fork's own first checkpoint still has every file its restore needs.
    for (const t of forked.tasks) {
      const { checkpoints } = (await api<{ checkpoints: Checkpoint[] }>('GET', `/api/tasks/${t.id}/checkpoints`)).body;
      const copy = checkpoints.find((c) => c.trigger === 'fork');
      expect(copy?.files).toBeGreaterThan(3);
      const manifest = (await api<CheckpointManifest>('GET', `/api/tasks/${t.id}/checkpoints/${copy?.id}/manifest`))
        .body;
      const hashes = new Set(manifest.entries.flatMap((e) => (e.type === 'file' ? [e.hash] : [])));
      for (const hash of hashes) {
        const res = await fetch(`${server.url}/api/tasks/${t.id}/checkpoints/${copy?.id}/blobs/${hash}`, {
          headers: { authorization: `Bearer ${server.token}` },
        });
        expect(res.status, `blob ${hash}`).toBe(200);
        await res.arrayBuffer();
      }
      expect(manifest.entries.some((e) => e.root === 'workspace' && e.path === 'new-file.txt')).toBe(true);
      expect(manifest.claudeSessionId).toBeTruthy();
    }
    const [first] = forked.tasks;
    expect(await exec(first?.id ?? '', 'cat new-file.txt')).toBe('new\n');
    for (const t of forked.tasks) await api('POST', `/api/tasks/${t.id}/stop`, { force: true });
  });
});
