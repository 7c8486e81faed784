#!/usr/bin/env node
/**
 * Agent entry point, started by a provider inside a sandbox with RCLAUDE_PROXY_URL, RCLAUDE_SANDBOX_ID and
 * its start-up token in its environment: RCLAUDE_AGENT_TOKEN_FILE naming a file that holds it (read once, then
 * deleted), RCLAUDE_AGENT_BOOTSTRAP (a one-time reference, exchanged over HTTPS for the token), or
 * RCLAUDE_AGENT_TOKEN itself. It dials out to the proxy and waits for work.
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
  'RCLAUDE_AGENT_BOOTSTRAP',
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

/**
 * The token, when the provider started the agent with a one-time bootstrap reference instead (ECS: its task
 * overrides stay readable through the cloud API): exchanged once at the proxy over HTTPS. Retried while the
 * proxy cannot be reached, for ten minutes at most (a reference dies unused sooner).
 */
async function exchangeBootstrap(proxyUrl: string, sandboxId: string, bootstrap: string): Promise<string> {
  const url = `${proxyUrl.replace(/\/$/, '')}/api/agent/bootstrap`;
  const deadline = Date.now() + 10 * 60_000;
  for (let delay = 250; ; delay = Math.min(delay * 2, 10_000)) {
    let why: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sandboxId, bootstrap }),
      });
      const body = (await res.json().catch(() => null)) as { token?: unknown } | null;
      if (res.ok && typeof body?.token === 'string' && body.token) return body.token;
      if (res.status === 400 || res.status === 401) {
        process.stderr.write(`rclaude-agent: the proxy refused the bootstrap reference (${res.status}); exiting\n`);
        process.exit(3);
      }
      why = `HTTP ${res.status}`;
    } catch (err) {
      why = (err as Error).message;
    }
    if (Date.now() + delay > deadline) {
      process.stderr.write(`rclaude-agent: could not exchange the bootstrap reference at ${url}: ${why}\n`);
      process.exit(3);
    }
    process.stderr.write(`rclaude-agent: bootstrap exchange failed (${why}); retrying\n`);
    await new Promise((r) => setTimeout(r, delay));
  }
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

const proxyUrl = required('RCLAUDE_PROXY_URL');
const sandboxId = required('RCLAUDE_SANDBOX_ID');
const bootstrap = process.env.RCLAUDE_AGENT_BOOTSTRAP;
const token = bootstrap ? await exchangeBootstrap(proxyUrl, sandboxId, bootstrap) : startupToken();
const agent = new Agent({
  proxyUrl,
  // Set by providers whose sandboxes have no network: the proxy's Unix socket, bound into the sandbox.
  ...(process.env.RCLAUDE_PROXY_SOCKET ? { socketPath: process.env.RCLAUDE_PROXY_SOCKET } : {}),
  sandboxId,
  token,
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
