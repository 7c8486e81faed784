#!/usr/bin/env node
/**
 * Agent entry point, started by a provider inside a sandbox with RCLAUDE_PROXY_URL, RCLAUDE_SANDBOX_ID and
 * its start-up token in its environment: RCLAUDE_AGENT_TOKEN_FILE naming a file that holds it (read once, then
 * deleted), or RCLAUDE_AGENT_TOKEN itself. It dials out to the proxy and waits for work.
 */
import fs from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { pino } from 'pino';
import { Agent } from './agent.js';

const CREDENTIAL_VARS = [
  'RCLAUDE_PROXY_URL',
  'RCLAUDE_PROXY_SOCKET',
  'RCLAUDE_SANDBOX_ID',
  'RCLAUDE_AGENT_TOKEN',
  'RCLAUDE_AGENT_TOKEN_FILE',
];

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`rclaude-agent: ${name} is not set; the provider must start the agent with it\n`);
    process.exit(2);
  }
  return value;
}

/**
 * The start-up token. From a file when RCLAUDE_AGENT_TOKEN_FILE names one: it is deleted at once, so nothing
 * else in the sandbox finds it later (the token is single-use anyway, replaced by the proxy at the handshake).
 */
function startupToken(): string {
  const file = process.env.RCLAUDE_AGENT_TOKEN_FILE;
  if (!file) return required('RCLAUDE_AGENT_TOKEN');
  let token = '';
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    process.stderr.write(`rclaude-agent: cannot read the token file ${file}: ${(err as Error).message}\n`);
    process.exit(2);
  }
  fs.rmSync(file, { force: true });
  if (!token) {
    process.stderr.write(`rclaude-agent: the token file ${file} is empty\n`);
    process.exit(2);
  }
  return token;
}

/** `RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS`, when set to a positive number of milliseconds. */
function orphanTimeout(value: string | undefined): { orphanTimeoutMs?: number } {
  if (value === undefined) return {};
  const ms = Number(value);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    process.stderr.write(`rclaude-agent: RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS must be a positive number of ms\n`);
    process.exit(2);
  }
  return { orphanTimeoutMs: ms };
}

const log = pino({ name: 'rclaude-agent', level: process.env.RCLAUDE_LOG_LEVEL ?? 'info' }, pino.destination(2));
const baseEnv: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) {
  // The agent's own credentials never reach the processes it runs.
  if (v !== undefined && !CREDENTIAL_VARS.includes(k)) baseEnv[k] = v;
}

const agent = new Agent({
  proxyUrl: required('RCLAUDE_PROXY_URL'),
  // Set by providers whose sandboxes have no network: the proxy's Unix socket, bound into the sandbox.
  ...(process.env.RCLAUDE_PROXY_SOCKET ? { socketPath: process.env.RCLAUDE_PROXY_SOCKET } : {}),
  sandboxId: required('RCLAUDE_SANDBOX_ID'),
  token: startupToken(),
  workspace: process.env.RCLAUDE_WORKSPACE ?? process.cwd(),
  home: process.env.HOME ?? os.homedir(),
  baseEnv,
  log,
  onShutdown: () => setTimeout(() => process.exit(), 100).unref(),
  ...orphanTimeout(process.env.RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS),
});
for (const k of CREDENTIAL_VARS) delete process.env[k];
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log.info({ signal: sig }, 'stopping');
    agent.shutdown(0);
    setTimeout(() => process.exit(0), 200).unref();
  });
}
agent.start();
