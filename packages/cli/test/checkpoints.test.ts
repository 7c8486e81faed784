/**
 * Sessions that outlive their sandbox, end to end: the real server (embedded storage, local checkpoint store),
 * agents in bubblewrap sandboxes, the real CLI through its linked bin, the real Claude Code against the fake
 * model. A task's work is checkpointed before every stop, periodically and on demand; an idle task hibernates;
 * a resume restores the checkpoint in a new sandbox and Claude continues its conversation.
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Checkpoint, Task, TaskEvent } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  Terminals,
  type TmuxTerminal,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/** Long enough that a CLI starting on a loaded machine attaches and types before a task could idle out. */
const IDLE_MS = 8000;
const WARNING_MS = 4000;
const CHECKPOINT_INTERVAL_MS = 1500;

let server: RclaudeServer;
let fake: FakeAnthropic;
const terminals = new Terminals();

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
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
      IDLE_TIMEOUT_MS: String(IDLE_MS),
      RCLAUDE_HIBERNATE_WARNING_MS: String(WARNING_MS),
      RCLAUDE_CHECKPOINT_INTERVAL_MS: String(CHECKPOINT_INTERVAL_MS),
      AGENT_RECONNECT_GRACE_MS: '1500',
    },
    timeoutMs: 60_000,
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

afterEach(() => {
  terminals.closeAll();
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 120_000 });

function terminal(args: string, size = { cols: 120, rows: 40 }): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, size);
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
const events = async (id: string) => (await api<{ events: TaskEvent[] }>('GET', `/api/tasks/${id}/events`)).body.events;
const statusIs = (id: string, status: Task['status'], withinMs = 60_000) =>
  until(`task ${id} to be ${status}`, async () => ((await getTask(id)).status === status ? true : null), withinMs);

/** A task running a program that prints every half second (so it never idles out). */
async function busyTask(script: string): Promise<Task> {
  const r = await cli(['run', '--detach', '--json', '--', 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  const task = JSON.parse(r.stdout) as Task;
  await statusIs(task.id, 'running');
  return task;
}

async function exec(id: string, script: string) {
  const r = await cli(['exec', id, '--', 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('checkpoints, stop and resume', () => {
  it('brings back files, links, modes and .git in a new sandbox after a stop, and records what it restored', async () => {
    const task = await busyTask('while true; do echo tick; sleep 0.5; done');
    await exec(
      task.id,
      [
        'mkdir -p "deep/a dir" empty node_modules/pkg',
        'printf "hello, wörld" > "deep/a dir/f ü.txt"',
        'head -c 3000000 /dev/urandom > big.bin && sha256sum big.bin > big.sum',
        'ln -s "a dir/f ü.txt" deep/link',
        'printf "#!/bin/sh\\necho run-me\\n" > tool.sh && chmod 750 tool.sh',
        'echo lock > package-lock.json && echo junk > node_modules/pkg/index.js',
        'git init -q . && git add tool.sh && git -c user.email=a@b -c user.name=t commit -qm first',
      ].join(' && '),
    );
    const taken = await api<Checkpoint>('POST', `/api/tasks/${task.id}/checkpoints`);
    expect(taken.status).toBe(201);
    expect(taken.body).toMatchObject({ taskId: task.id, trigger: 'manual' });
    expect(taken.body.files).toBeGreaterThanOrEqual(5);
    expect(taken.body.uploadedBytes).toBeGreaterThanOrEqual(3_000_000);

    // A second checkpoint of the unchanged workspace uploads (nearly) nothing: blobs are content-addressed.
    const again = await api<Checkpoint>('POST', `/api/tasks/${task.id}/checkpoints`);
    expect(again.body.uploadedBytes).toBeLessThan(100_000);

    const stopped = await api<Task>('POST', `/api/tasks/${task.id}/stop`);
    expect(stopped.body.status).toBe('stopped');
    const list = await api<{ checkpoints: Checkpoint[] }>('GET', `/api/tasks/${task.id}/checkpoints`);
    expect(list.body.checkpoints.map((c) => c.trigger)).toEqual(['stop', 'manual', 'manual']);

    // With no sandbox, its files are read from the latest checkpoint: listed, read and copied out, not written.
    const listing = await api<{ checkpointId?: string; entries: { name: string; type: string }[] }>(
      'GET',
      `/api/tasks/${task.id}/files?path=deep`,
    );
    expect(listing.body.checkpointId).toBe(list.body.checkpoints[0]?.id);
    expect(listing.body.entries.map((e) => `${e.name}:${e.type}`)).toEqual(['a dir:dir', 'link:symlink']);
    const sum = await fetch(`${server.url}/api/tasks/${task.id}/files/content?path=big.sum`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(sum.headers.get('x-rclaude-checkpoint')).toBe(list.body.checkpoints[0]?.id);
    const expected = (await sum.text()).split(' ')[0];
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-cp-'));
    const copied = await cli(['cp', `${task.id}:big.bin`, path.join(dest, 'big.bin')]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(
      createHash('sha256')
        .update(fs.readFileSync(path.join(dest, 'big.bin')))
        .digest('hex'),
    ).toBe(expected);
    fs.rmSync(dest, { recursive: true, force: true });
    const write = await fetch(`${server.url}/api/tasks/${task.id}/files/content?path=new.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(write.status).toBe(409);

    const resumed = await api<Task>('POST', `/api/tasks/${task.id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('starting');
    await statusIs(task.id, 'running');
    const out = await exec(
      task.id,
      [
        'cat "deep/a dir/f ü.txt"; echo',
        'readlink deep/link',
        'stat -c %a tool.sh',
        './tool.sh',
        'sha256sum -c big.sum',
        'test -d empty && echo empty-dir',
        'cat package-lock.json',
        'test -e node_modules && echo has-node-modules || echo no-node-modules',
        'git log --format=%s',
      ].join('; '),
    );
    expect(out.split('\n')).toEqual([
      'hello, wörld',
      'a dir/f ü.txt',
      '750',
      'run-me',
      'big.bin: OK',
      'empty-dir',
      'lock',
      'no-node-modules',
      'first',
      '',
    ]);
    const restore = (await events(task.id)).find((e) => e.type === 'restore');
    expect(restore?.data).toMatchObject({ checkpointId: list.body.checkpoints[0]?.id, mismatches: [] });
    expect(Number(restore?.data.files)).toBe(list.body.checkpoints[0]?.files);
    await api('POST', `/api/tasks/${task.id}/stop`, { force: true });
  });

  it('resumes from an older checkpoint with --at semantics, and refuses an unknown one plainly', async () => {
    const task = await busyTask('while true; do echo tick; sleep 0.5; done');
    await exec(task.id, 'echo v1 > version');
    const first = (await api<Checkpoint>('POST', `/api/tasks/${task.id}/checkpoints`)).body;
    await exec(task.id, 'echo v2 > version');
    await api('POST', `/api/tasks/${task.id}/stop`);
    const unknown = await api<{ error: { code: string; message: string } }>('POST', `/api/tasks/${task.id}/resume`, {
      at: 'cp_doesnotexist0',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(/has no checkpoint cp_doesnotexist0/);
    await api('POST', `/api/tasks/${task.id}/resume`, { at: first.id });
    await statusIs(task.id, 'running');
    expect(await exec(task.id, 'cat version')).toBe('v1\n');
    await api('POST', `/api/tasks/${task.id}/stop`, { force: true });
  });

  it('a program that exits on its own is checkpointed before its sandbox goes', async () => {
    const r = await cli(['run', '--json', '--detach', '--', 'sh', '-c', 'echo kept > kept.txt']);
    const task = JSON.parse(r.stdout) as Task;
    await until('the task to end', async () => ((await getTask(task.id)).endedAt ? true : null));
    expect((await getTask(task.id)).status).toBe('succeeded');
    const { checkpoints } = (await api<{ checkpoints: Checkpoint[] }>('GET', `/api/tasks/${task.id}/checkpoints`)).body;
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]).toMatchObject({ trigger: 'stop' });
    expect(checkpoints[0]?.files).toBeGreaterThanOrEqual(1);
  });

  it('a task that never checkpointed cannot be resumed, and says why', async () => {
    // Killed at once: no stop, no exit of its own, no periodic checkpoint yet.
    const r = await cli(['run', '--json', '--detach', '--', 'sh', '-c', 'kill -KILL $$']);
    const task = JSON.parse(r.stdout) as Task;
    await until('the task to end', async () => ((await getTask(task.id)).endedAt ? true : null));
    const refused = await api<{ error: { code: string; message: string } }>('POST', `/api/tasks/${task.id}/resume`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/no checkpoint to resume from/);
  });

  it('after the sandbox is killed mid-work, resume brings back the last periodic checkpoint and says how old it was', async () => {
    const task = await busyTask('i=0; while true; do i=$((i+1)); echo "line $i" | tee -a work.log; sleep 0.3; done');
    await until(
      'a periodic checkpoint',
      async () =>
        (await events(task.id)).some((e) => e.type === 'checkpoint' && e.data.trigger === 'periodic') ? true : null,
      30_000,
    );
    // The agent is the sandbox's first process: killing it takes the whole sandbox down, as a crash would.
    await cli(['exec', task.id, '--', 'sh', '-c', 'kill -9 $(pgrep -f agent/dist/main.js)']);
    await statusIs(task.id, 'failed');
    const [latest] = (await api<{ checkpoints: Checkpoint[] }>('GET', `/api/tasks/${task.id}/checkpoints`)).body
      .checkpoints;
    expect(latest?.trigger).toBe('periodic');
    await api('POST', `/api/tasks/${task.id}/resume`);
    await statusIs(task.id, 'running');
    const lines = (await exec(task.id, 'head -n 3 work.log')).split('\n');
    expect(lines.slice(0, 3)).toEqual(['line 1', 'line 2', 'line 3']);
    const restore = (await events(task.id)).find((e) => e.type === 'restore');
    expect(restore?.data.checkpointId).toBe(latest?.id);
    expect(Number(restore?.data.ageMs)).toBeGreaterThan(0);
    await api('POST', `/api/tasks/${task.id}/stop`, { force: true });
  });
});

describe('hibernation', () => {
  it('hibernates an idle Claude after warning the attached terminal; attach resumes it and the model sees the earlier conversation', async () => {
    const t = terminal('run --name hibernate-e2e -- claude --permission-mode acceptEdits');
    await t.waitFor((s) => /accept edits on|\? for shortcuts/.test(s), 60_000);
    t.type('please remember the word PELICAN');
    t.keys('Enter');
    await t.waitFor((s) => s.includes('Noted: I will remember it.'), 60_000);
    const tasks = (await api<{ tasks: Task[] }>('GET', '/api/tasks?limit=20')).body.tasks;
    const task = tasks.find((x) => x.name === 'hibernate-e2e');
    expect(task).toBeTruthy();
    const id = task?.id ?? '';

    // No input, no output: the attached terminal is warned, then the task hibernates (the CLI says so).
    await until(
      'the hibernation warning',
      async () =>
        (await events(id)).some((e) => e.type === 'info' && typeof e.data.hibernateAt === 'string') ? true : null,
      30_000,
    );
    await statusIs(id, 'hibernated', 30_000);
    const hibernated = await getTask(id);
    expect(hibernated.statusReason).toMatch(/^hibernated: idle for 8 s: no input, no output/);
    const cp = (await events(id)).find((e) => e.type === 'checkpoint' && e.data.trigger === 'hibernate');
    expect(cp?.data.checkpointId).toMatch(/^cp_/);
    await until('the CLI to exit', async () => t.exitStatus() !== null, 30_000);
    // The attached terminal was told both: the coming hibernation (how to keep it) and how to come back.
    const said = t.screen();
    expect(said).toMatch(/hibernating at \d\d:\d\d:\d\d .*press any key to keep it running/);
    expect(said).toContain(`Back with: rclaude attach ${id}`);

    // `rclaude attach` on the hibernated task resumes it, and Claude Code continues the same conversation.
    const calls = fake.mainCalls().length;
    const back = terminal(`attach ${id}`);
    await back.waitFor((s) => /accept edits on|\? for shortcuts/.test(s), 90_000);
    back.type('which word did I ask you to remember?');
    back.keys('Enter');
    await back.waitFor((s) => s.includes('You asked me to remember a word.'), 60_000);
    const resumedCall = fake
      .mainCalls()
      .slice(calls)
      .find((c) => lastUserText(c.body).includes('which word'));
    expect(JSON.stringify(resumedCall?.body.messages)).toContain('please remember the word PELICAN');
    const restore = (await events(id)).find((e) => e.type === 'restore');
    expect(restore?.data.checkpointId).toBe(cp?.data.checkpointId);
    await api('POST', `/api/tasks/${id}/stop`, { force: true });
  });

  it('never hibernates a task whose output keeps coming, and `keep` restarts the idle clock', async () => {
    const busy = await busyTask('while true; do echo tick; sleep 0.3; done');
    const quiet = await busyTask('sleep 600');
    await new Promise((r) => setTimeout(r, IDLE_MS - 3000)); // the test is about time passing: idle is 8 s
    const kept = await api<{ hibernateAt: string | null }>('POST', `/api/tasks/${quiet.id}/keep`);
    expect(kept.status).toBe(200);
    expect(Date.parse(kept.body.hibernateAt ?? '')).toBeGreaterThan(Date.now() + IDLE_MS - 2000);
    await new Promise((r) => setTimeout(r, 5000));
    expect((await getTask(quiet.id)).status).toBe('running');
    await statusIs(quiet.id, 'hibernated', 30_000);
    expect((await getTask(busy.id)).status).toBe('running');
    await api('POST', `/api/tasks/${busy.id}/stop`, { force: true });
    // Stopping a hibernated task for good keeps its checkpoints (a resume can still bring it back).
    expect((await api<Task>('POST', `/api/tasks/${quiet.id}/stop`)).body.status).toBe('stopped');
    expect(
      (await api<{ checkpoints: Checkpoint[] }>('GET', `/api/tasks/${quiet.id}/checkpoints`)).body.checkpoints.length,
    ).toBeGreaterThan(0);
  });

  it('deleting a task deletes what it stored', async () => {
    const task = await busyTask('while true; do echo tick; sleep 0.5; done');
    await exec(task.id, 'head -c 100000 /dev/urandom > unique.bin');
    await api('POST', `/api/tasks/${task.id}/checkpoints`);
    expect((await api('DELETE', `/api/tasks/${task.id}`)).status).toBe(204);
    expect((await api('GET', `/api/tasks/${task.id}/checkpoints`)).status).toBe(404);
  });
});
