/**
 * The agent's side of approvals with the real (built) PermissionRequest hook command over a real channel: the
 * hook blocks until the relay answers and prints Claude Code's decision JSON; a request waits for a connection
 * and is resent after one; an interactive Claude that moves on withdraws its request, a `-p` one never does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Ack, AgentApprovalRequest, AgentApprovalResult, AgentApprovalWithdraw } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtScript } from '../prompt/built-script.js';
import { decisionOutput } from './approval-input.js';
import { ApprovalRelay } from './approval-relay.js';
import { approvalHookCommand, approvalHookTimeoutSeconds } from './hooks-install.js';
import { HooksRelay } from './hooks-relay.js';

const log = pino({ level: 'silent' });
const relays: HooksRelay[] = [];

afterEach(async () => {
  for (const r of relays.splice(0)) await r.close();
});

interface Harness {
  relay: HooksRelay;
  approvals: ApprovalRelay;
  requests: { req: AgentApprovalRequest; ack: (res: Ack<AgentApprovalResult>) => void }[];
  withdrawn: AgentApprovalWithdraw[];
  setConnected(up: boolean): void;
}

async function harness(opts: { promptSessions?: string[] } = {}): Promise<Harness> {
  let connected = true;
  const requests: Harness['requests'] = [];
  const withdrawn: AgentApprovalWithdraw[] = [];
  const approvals = new ApprovalRelay({
    request: (req, ack) => requests.push({ req, ack }),
    withdraw: (w) => withdrawn.push(w),
    connected: () => connected,
    isPromptSession: (id) => id !== null && (opts.promptSessions ?? []).includes(id),
    log,
  });
  const relay = await HooksRelay.start({ emit: () => undefined, log, approvals });
  relays.push(relay);
  return {
    relay,
    approvals,
    requests,
    withdrawn,
    setConnected: (up) => {
      connected = up;
    },
  };
}

/** Runs the built hook as Claude Code would (through sh), with a PermissionRequest input. */
function runHook(socket: string, sessionId = 'abcd_main') {
  const input = JSON.stringify({
    hook_event_name: 'PermissionRequest',
    session_id: 'claude-1',
    tool_name: 'Bash',
    tool_input: { command: 'rm -rf build', description: 'Clean the build', timeout: 5 },
    permission_suggestions: [],
  });
  let out = '';
  const child = spawn('/bin/sh', ['-c', approvalHookCommand()], {
    env: { PATH: process.env.PATH ?? '', RCLAUDE_EVENTS_SOCKET: socket, RCLAUDE_SESSION_ID: sessionId },
  });
  child.stdout.on('data', (d) => {
    out += d;
  });
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out })),
  );
  child.stdin.end(input);
  return { done, exited: () => child.exitCode !== null };
}

describe('approvals in the agent', () => {
  it('blocks the hook until the decision, then prints it as Claude Code reads it', async () => {
    expect(existsSync(builtScript('claude/approval-hook.js')), 'build the agent first').toBe(true);
    const h = await harness();
    const hook = runHook(h.relay.socketPath);
    const first = await until('the request to reach the proxy side', () => h.requests[0] ?? null);
    expect(first.req).toMatchObject({
      sessionId: 'abcd_main',
      tool: 'Bash',
      input: { command: 'rm -rf build' },
      reason: 'Clean the build',
    });
    first.ack({ ok: true, data: { approvalId: 'ap_aaaaaaaaaaaa', expiresAt: new Date().toISOString() } });
    expect(hook.exited()).toBe(false);
    h.approvals.answer({
      requestKey: first.req.requestKey,
      approvalId: 'ap_aaaaaaaaaaaa',
      behavior: 'deny',
      message: 'not now',
    });
    const r = await hook.done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: 'not now' } },
    });
    expect(h.withdrawn).toEqual([]);
  });

  it('waits for a connection, resends after it, and takes a decision the proxy already had', async () => {
    const h = await harness();
    h.setConnected(false);
    const hook = runHook(h.relay.socketPath);
    await until('the hook to be held', () => (h.approvals.size === 1 ? true : null));
    expect(h.requests).toEqual([]);
    h.setConnected(true);
    h.approvals.resendAll();
    const sent = await until('the resend', () => h.requests[0] ?? null);
    sent.ack({
      ok: true,
      data: {
        approvalId: 'ap_aaaaaaaaaaaa',
        expiresAt: new Date().toISOString(),
        decision: { behavior: 'allow', message: null },
      },
    });
    const r = await hook.done;
    expect(r.out.trim()).toBe(decisionOutput('allow', null));
  });

  it('withdraws an interactive request when Claude moves on (answered in the terminal); never a -p one', async () => {
    const h = await harness({ promptSessions: ['prmt_main'] });
    const interactive = runHook(h.relay.socketPath, 'abcd_main');
    const prompt = runHook(h.relay.socketPath, 'prmt_main');
    await until('both requests', () => (h.requests.length === 2 ? true : null));
    // Another tool's result, or another Claude's, settles nothing.
    h.approvals.hookSeen({ hook_event_name: 'PostToolUse', session_id: 'claude-1', tool_name: 'Read' });
    h.approvals.hookSeen({ hook_event_name: 'Stop', session_id: 'claude-2' });
    expect(h.withdrawn).toEqual([]);
    h.approvals.hookSeen({ hook_event_name: 'PostToolUse', session_id: 'claude-1', tool_name: 'Bash' });
    const r = await interactive.done;
    expect(r).toEqual({ code: 0, out: '' });
    const interactiveKey = h.requests.find((q) => q.req.sessionId === 'abcd_main')?.req.requestKey;
    expect(h.withdrawn).toEqual([{ requestKey: interactiveKey, reason: 'answered in the terminal' }]);
    // The -p request still waits, and gets its answer.
    expect(prompt.exited()).toBe(false);
    const promptKey = h.requests.find((q) => q.req.sessionId === 'prmt_main')?.req.requestKey ?? '';
    h.approvals.answer({ requestKey: promptKey, approvalId: 'ap_bbbbbbbbbbbb', behavior: 'allow', message: null });
    expect((await prompt.done).out.trim()).toBe(decisionOutput('allow', null));
  });

  it('releases the hook without a decision when the proxy refuses the request', async () => {
    const h = await harness();
    const hook = runHook(h.relay.socketPath);
    const sent = await until('the request', () => h.requests[0] ?? null);
    sent.ack({ ok: false, error: { code: 'CONFLICT', message: 'no live task' } });
    expect(await hook.done).toEqual({ code: 0, out: '' });
  });

  it("gives Claude Code's hook a minute more than the approval timeout", () => {
    expect(approvalHookTimeoutSeconds(600_000)).toBe(660);
    expect(approvalHookTimeoutSeconds(1500)).toBe(62);
  });
});
