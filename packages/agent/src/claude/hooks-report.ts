#!/usr/bin/env node
/**
 * Claude Code's hook command in a sandbox (installed by hooks-install.ts). Reads the hook input (one JSON
 * object on stdin), keeps the few fields rclaude reads, and passes them to the agent over its channel. It
 * always exits 0 and prints nothing: a hook must never change what Claude Code does, and outside an agent
 * (no RCLAUDE_EVENTS_SOCKET) it does nothing at all.
 */
import process from 'node:process';
import { HOOK_FIELDS } from './hooks-activity.js';
import { connectEventChannel, EVENTS_SOCKET_ENV, SESSION_ID_ENV } from './hooks-channel.js';

const STDIN_MAX_BYTES = 4 * 1024 * 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes > STDIN_MAX_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const path = process.env[EVENTS_SOCKET_ENV];
  if (!path) return;
  const input = JSON.parse(await readStdin()) as Record<string, unknown>;
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
