/**
 * The changes of a task that does not exit on its own, end to end: a stop and a hibernation record the diff and
 * push the `--push` branch before the sandbox goes, as the program's own exit does. The real server (embedded
 * storage, local checkpoint store), agents in bubblewrap sandboxes, the real CLI in tmux, the real Claude Code
 * against the fake model, and a bare repository on this machine that the pushed branch is brought home to.
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Task, TaskEvent } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  rclaudeBin,
  startFakeAnthropic,
  startRclaudeServer,
  TmuxTerminal,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/** Long enough that Claude Code starting on a loaded machine answers before the task could idle out. */
const IDLE_MS = 10_000;

let server: RclaudeServer;
let fake: FakeAnthropic;
let scratch: string;
let bare: string;
let featureHead: string;
const terminals: TmuxTerminal[] = [];

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-finish-e2e-'));
  const work = path.join(scratch, 'work');
  bare = path.join(scratch, 'origin.git');
  const git = (args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work, stdio: 'pipe' });
  fs.mkdirSync(work);
  git(['init', '-q', '-b', 'main']);
  fs.writeFileSync(path.join(work, 'greeting.txt'), 'hello\n');
  git(['add', '.']);
  git(['commit', '-q', '-m', 'first']);
  execFileSync('git', ['clone', '-q', '--bare', work, bare]);
  featureHead = inBare('rev-parse', 'main');
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      if (lastToolResults(body).length > 0) return 'The greeting is changed.';
      const text = lastUserText(body);
      const word = /please write (\w+)/.exec(text)?.[1];
      if (word) return toolUseReply('Write', { file_path: '/workspace/greeting.txt', content: `hello ${word}\n` });
      return undefined;
    },
  });
  server = await startRclaudeServer({
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
      IDLE_TIMEOUT_MS: String(IDLE_MS),
      RCLAUDE_HIBERNATE_WARNING_MS: '3000',
    },
    timeoutMs: 120_000,
  });
}, 180_000);

afterAll(async () => {
  for (const t of terminals.splice(0)) t.close();
  await server?.stop();
  await fake?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

afterEach(() => {
  for (const t of terminals.splice(0)) t.close();
});

function inBare(...args: string[]): string {
  return execFileSync('git', ['-C', bare, ...args], { encoding: 'utf8' }).trim();
}

const getTask = async (id: string) => (await server.request<Task>('GET', `/api/tasks/${id}`)).body;
const events = async (id: string) =>
  (await server.request<{ events: TaskEvent[] }>('GET', `/api/tasks/${id}/events`)).body.events;
const statusIs = (id: string, status: Task['status'], withinMs = 60_000) =>
  until(`task ${id} to be ${status}`, async () => ((await getTask(id)).status === status ? true : null), withinMs);

/**
 * Starts an interactive Claude Code on a clone of the bare repository with `--push`, has it write `word` into
 * greeting.txt, and returns the task once Claude is waiting for the next input (its program still running).
 */
async function claudeChangedTheRepo(name: string, word: string): Promise<Task> {
  const env = Object.entries(server.cliEnv())
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const t = new TmuxTerminal(
    `env ${env} ${rclaudeBin()} run --name ${name} --repo ${bare} --push -- claude --permission-mode acceptEdits`,
    { cols: 120, rows: 40 },
  );
  terminals.push(t);
  await t.waitFor((s) => /accept edits on|\? for shortcuts/.test(s), 90_000);
  t.type(`please write ${word}`);
  t.keys('Enter');
  await t.waitFor((s) => s.includes('The greeting is changed.'), 60_000);
  const { tasks } = (await server.request<{ tasks: Task[] }>('GET', '/api/tasks?limit=20')).body;
  const task = tasks.find((x) => x.name === name);
  if (!task) throw new Error(`no task ${name}`);
  expect(task.exitCode).toBeNull();
  return task;
}

/** The task's diff and push were recorded once, and its branch is in the bare repository with `word`. */
async function expectRecordedAndPushed(task: Task, word: string, why: string): Promise<void> {
  const all = await events(task.id);
  const diffs = all.filter((e) => e.type === 'diff');
  expect(diffs).toHaveLength(1);
  expect(diffs[0]?.data).toMatchObject({
    files: [{ path: 'greeting.txt', additions: 1, deletions: 1 }],
    summary: '1 file changed, +1 -1',
    sessionId: task.mainSessionId,
  });
  const branch = `rclaude/${task.id}`;
  const pushes = all.filter((e) => e.type === 'push');
  expect(pushes).toHaveLength(1);
  expect(pushes[0]?.data).toMatchObject({ branch, pushedTo: bare });
  expect(inBare('rev-parse', branch)).toBe(pushes[0]?.data.commit);
  expect(inBare('show', `${branch}:greeting.txt`)).toBe(`hello ${word}`);
  expect(inBare('rev-parse', `${branch}^`)).toBe(featureHead);
  expect(inBare('log', '-1', '--format=%B', branch)).toContain(`Committed by rclaude when the task was ${why}.`);
  // Recorded before the sandbox went: the diff and push come before the status that released it.
  const released = all.findIndex((e) => e.type === 'status' && e.data.status === 'stopping');
  expect(released).toBeGreaterThan(all.indexOf(pushes[0] as TaskEvent));
  // (Claude Code's own connections to its update and telemetry hosts are refused by the egress gateway.)
  const errors = all.filter((e) => e.type === 'error').map((e) => String(e.data.message));
  expect(errors.filter((m) => /record|push|branch/.test(m))).toEqual([]);
}

describe('diff and push before the sandbox goes', () => {
  it('a user stop while Claude waits records the diff and pushes the branch', async () => {
    const task = await claudeChangedTheRepo('finish-stop', 'stopped');
    const stopped = await server.request<Task>('POST', `/api/tasks/${task.id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe('stopped');
    await expectRecordedAndPushed(task, 'stopped', 'stopped');
  });

  it('a hibernation records the diff and pushes the branch; its checkpoint came first', async () => {
    const task = await claudeChangedTheRepo('finish-hibernate', 'hibernated');
    await statusIs(task.id, 'hibernated', 90_000).catch(async (err: Error) => {
      const seen = (await events(task.id)).map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 300)}`);
      throw new Error(`${err.message}; its timeline:\n${seen.join('\n')}`);
    });
    await expectRecordedAndPushed(task, 'hibernated', 'hibernated');
    const all = await events(task.id);
    const cp = all.findIndex((e) => e.type === 'checkpoint' && e.data.trigger === 'hibernate');
    expect(cp).toBeGreaterThanOrEqual(0);
    expect(cp).toBeLessThan(all.findIndex((e) => e.type === 'diff'));
    // Stopping the hibernated task later has no sandbox to ask: nothing more is recorded.
    expect((await server.request<Task>('POST', `/api/tasks/${task.id}/stop`)).body.status).toBe('stopped');
    expect((await events(task.id)).filter((e) => e.type === 'diff')).toHaveLength(1);
  });
});
