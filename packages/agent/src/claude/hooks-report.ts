#!/usr/bin/env node
/**
 * Claude Code's hook command in a sandbox (installed by hooks-install.ts). Reads the hook input (one JSON
 * object on stdin), keeps the few fields rclaude reads, and passes them to the agent over its channel. It
 * always exits 0 and prints nothing: a hook must never change what Claude Code does, and outside an agent
 * (no RCLAUDE_EVENTS_SOCKET) it does nothing at all.
 */
import process from 'node:process';
import { HOOK_FIELDS } from './hooks-activity.js';
import { connectEventChannel, EVENTS_SOCKET_ENV, readHookInput, SESSION_ID_ENV } from './hooks-channel.js';

async function main(): Promise<void> {
  const path = process.env[EVENTS_SOCKET_ENV];
  if (!path) return;
  const input = JSON.parse(await readHookInput()) as Record<string, unknown>;
  const payload: Record<string, unknown> = {};
  for (const field of HOOK_FIELDS) {
    if (typeof input[field] === 'string') payload[field] = (input[field] as string).slice(0, 2000);
  }
  const channel = await connectEventChannel(path, 1000);
  if (!channel) return;
  channel.send({ kind: 'hook', sessionId: process.env[SESSION_ID_ENV] ?? null, payload });
  await channel.flush(2000);
  await channel.close();
}

setTimeout(() => process.exit(0), 5000).unref();
main().then(
  () => process.exit(0),
  () => process.exit(0),
);
