#!/usr/bin/env node
/**
 * Claude Code's PermissionRequest hook in a sandbox (installed by hooks-install.ts): Claude Code would ask the
 * person about a tool call. The hook hands the request to the agent over its channel and BLOCKS until the
 * agent answers with the decision of the task's approval (allowed or denied by a person, or denied on time-out),
 * then prints it as the hook's JSON decision, so Claude Code neither shows nor needs its own prompt.
 *
 * Without an answer (no agent, the connection closed), it exits 0 and prints nothing: Claude Code then does
 * what it does without the hook (its terminal prompt; a denial in `-p` mode).
 */
import process from 'node:process';
import { approvalFields, decisionOutput } from './approval-input.js';
import { connectEventChannel, EVENTS_SOCKET_ENV, readHookInput, SESSION_ID_ENV } from './hooks-channel.js';

async function main(): Promise<string | null> {
  const path = process.env[EVENTS_SOCKET_ENV];
  if (!path) return null;
  const input: unknown = JSON.parse(await readHookInput());
  if (typeof input !== 'object' || input === null) return null;
  let answered: (line: string) => void = () => undefined;
  const channel = await connectEventChannel(path, 2000, { onLine: (line) => answered(line) });
  if (!channel) return null;
  const answer = new Promise<string | null>((resolve) => {
    answered = (line) => {
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === 'object' && v !== null && 'behavior' in v) {
          const behavior = v.behavior === 'allow' ? 'allow' : 'deny';
          const message = 'message' in v && typeof v.message === 'string' ? v.message : null;
          resolve(decisionOutput(behavior, message));
          return;
        }
      } catch {
        // Not an answer.
      }
      resolve(null);
    };
    void channel.closed.then(() => resolve(null));
  });
  // Only the fields an approval shows leave the hook (a Write's whole content never does).
  const f = approvalFields({ ...input });
  const payload = {
    tool_name: f.tool,
    tool_input: { ...f.input, ...(f.reason ? { description: f.reason } : {}) },
    session_id: f.claudeSessionId,
  };
  channel.send({ kind: 'approval', sessionId: process.env[SESSION_ID_ENV] ?? null, payload });
  const out = await answer;
  await channel.close();
  return out;
}

main().then(
  (out) => {
    if (out) process.stdout.write(`${out}\n`, () => process.exit(0));
    else process.exit(0);
  },
  () => process.exit(0),
);
