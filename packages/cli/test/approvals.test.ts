/**
 * Approvals end to end, through real processes: `rclaude server` (embedded storage, local bubblewrap
 * sandboxes), the agent, and the real Claude Code CLI against the testkit's fake Anthropic API, in a prompt
 * task under the `default` permission mode. Claude Code's PermissionRequest hook blocks on the agent; the
 * answer comes from the CLI (`rclaude approve` / `rclaude deny`), or from nobody (the time-out denies).
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '@rclaude/client';
import { AppError, type Approval } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Long enough to answer the first two, short enough to watch the third expire. */
const APPROVAL_TIMEOUT_MS = 12_000;

let server: RclaudeServer;
let fake: FakeAnthropic;
let api: ApiClient;
let scratch: string;

/** The Bash command the fake model asks for, per prompt. */
const COMMANDS: Record<string, string> = {
  'run the allowed command': 'echo allowed > allowed.txt',
  'run the denied command': 'echo denied > denied.txt',
  'run the forgotten command': 'echo late > late.txt',
};

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-approvals-e2e-'));
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      const results = lastToolResults(body);
      if (results.length > 0) return results[0]?.isError ? `The tool was refused: ${results[0].text}` : 'It ran.';
      const text = lastUserText(body);
      const command = Object.entries(COMMANDS).find(([prompt]) => text.includes(prompt))?.[1];
      return command ? toolUseReply('Bash', { command, description: 'Write a marker file' }) : undefined;
    },
  });
  server = await startRclaudeServer({
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
      // Claude Code asks before a Bash command (the default, bypassPermissions, never asks).
      RCLAUDE_PROMPT_PERMISSION_MODE: 'default',
      RCLAUDE_APPROVAL_TIMEOUT_MS: String(APPROVAL_TIMEOUT_MS),
    },
    timeoutMs: 150_000,
  });
  api = new ApiClient({ baseUrl: server.url, token: server.token });
}, 180_000);

afterAll(async () => {
  if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
  await fake?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 120_000 });

/** The pending approval whose command writes `file`, once Claude Code has asked. */
function pendingFor(file: string): Promise<Approval> {
  return until(`an approval for ${file}`, async () => {
    const { approvals } = await api.call('listMyApprovals', { query: {} });
    return approvals.find((a) => a.input.command?.includes(file)) ?? null;
  });
}

/** The workspace file's text, or null when it does not exist. */
async function workspaceFile(taskId: string, file: string): Promise<string | null> {
  try {
    const res = await api.call('readFile', { params: { id: taskId }, query: { path: file } });
    return await res.text();
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

describe('approvals with the real Claude Code', () => {
  it('holds a Bash call until it is approved, then runs it', async () => {
    const run = cli(['run', '-p', 'run the allowed command']);
    const approval = await pendingFor('allowed.txt');
    expect(approval).toMatchObject({
      tool: 'Bash',
      status: 'pending',
      summary: 'Bash: echo allowed > allowed.txt',
      reason: 'Write a marker file',
      answeredBy: null,
    });
    // It waits: nothing ran yet, and the task's list shows it.
    expect(await workspaceFile(approval.taskId, 'allowed.txt')).toBeNull();
    const listed = await api.call('listApprovals', { params: { id: approval.taskId } });
    expect(listed.approvals.map((a) => a.id)).toEqual([approval.id]);

    const answered = await cli(['approve', approval.id]);
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.stdout).toContain(`${approval.id} allowed by`);

    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    // The attached `run -p` printed the request and the answer given elsewhere.
    expect(done.stdout).toContain(`approval ${approval.id}: Bash: echo allowed > allowed.txt`);
    expect(done.stdout).toMatch(new RegExp(`approval ${approval.id} allowed by \\S+`));
    expect(await workspaceFile(approval.taskId, 'allowed.txt')).toBe('allowed\n');

    const me = await api.call('me');
    const { events } = await api.call('listTaskEvents', { params: { id: approval.taskId }, query: {} });
    expect(events.find((e) => e.type === 'approval_requested')?.data).toMatchObject({
      approvalId: approval.id,
      tool: 'Bash',
      summary: 'Bash: echo allowed > allowed.txt',
    });
    const answers = events.filter((e) => e.type === 'approval_answered');
    expect(answers.map((e) => e.data)).toEqual([
      { approvalId: approval.id, decision: 'allow', by: me.username, timedOut: false },
    ]);
    // Answered once: a second answer is refused and changes nothing.
    await expect(
      api.call('answerApproval', {
        params: { id: approval.taskId, approvalId: approval.id },
        body: { decision: 'deny' },
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await api.call('getApproval', { params: { approvalId: approval.id } })).status).toBe('allowed');
  }, 180_000);

  it('refuses another user, then a denial keeps the command from running', async () => {
    const run = cli(['run', '-p', 'run the denied command']);
    const approval = await pendingFor('denied.txt');

    // Another user sees nothing and answers nothing: 404, and the approval stays pending.
    await api.call('createUser', { body: { username: 'mallory', password: 'mallory-password-1' } });
    const { token } = await api.call('login', { body: { username: 'mallory', password: 'mallory-password-1' } });
    const other = new ApiClient({ baseUrl: server.url, token });
    for (const attempt of [
      () => other.call('listApprovals', { params: { id: approval.taskId } }),
      () => other.call('getApproval', { params: { approvalId: approval.id } }),
      () =>
        other.call('answerApproval', {
          params: { id: approval.taskId, approvalId: approval.id },
          body: { decision: 'allow' },
        }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect((await other.call('listMyApprovals', { query: { status: 'all' } })).approvals).toEqual([]);
    expect((await api.call('getApproval', { params: { approvalId: approval.id } })).status).toBe('pending');

    const denied = await cli(['deny', approval.id, '-m', 'not this one']);
    expect(denied.code, denied.stderr).toBe(0);
    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`approval ${approval.id} denied by \\S+`));
    // Claude was told why, and the command never ran.
    const told = fake.mainCalls().flatMap((c) => lastToolResults(c.body));
    expect(told.some((r) => r.isError && r.text.includes('not this one'))).toBe(true);
    expect(await workspaceFile(approval.taskId, 'denied.txt')).toBeNull();
    expect(await api.call('getApproval', { params: { approvalId: approval.id } })).toMatchObject({
      status: 'denied',
      message: 'not this one',
    });
  }, 180_000);

  it('denies an approval nobody answers once it times out', async () => {
    const run = cli(['run', '-p', 'run the forgotten command']);
    const approval = await pendingFor('late.txt');
    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain(`approval ${approval.id} timed out: denied`);
    expect(await workspaceFile(approval.taskId, 'late.txt')).toBeNull();
    const after = await api.call('getApproval', { params: { approvalId: approval.id } });
    expect(after).toMatchObject({ status: 'timed_out', answeredBy: null });
    const { events } = await api.call('listTaskEvents', { params: { id: approval.taskId }, query: {} });
    expect(events.filter((e) => e.type === 'approval_answered').map((e) => e.data)).toEqual([
      { approvalId: approval.id, decision: 'deny', by: null, timedOut: true },
    ]);
    // Too late to answer now.
    const late = await cli(['approve', approval.id]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('timed out');
  }, 180_000);
});
