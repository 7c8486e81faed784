/**
 * The agent gives up on a proxy that is gone for good, so an orphaned sandbox does not run (and bill) forever.
 * Runs the built agent (`npx tsc -b packages/agent` first) against a port nothing listens on.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const agentMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/main.js');
const workspace = mkdtempSync(path.join(tmpdir(), 'rclaude-orphan-'));
afterAll(() => rmSync(workspace, { recursive: true, force: true }));

/** A loopback port that was free a moment ago. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function runAgent(env: Record<string, string>, killAfterMs: number) {
  const child = spawn(process.execPath, [agentMain], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: workspace,
      RCLAUDE_SANDBOX_ID: 'orphan-test',
      RCLAUDE_AGENT_TOKEN: 'not-a-real-token',
      RCLAUDE_WORKSPACE: workspace,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('an orphaned agent', () => {
  it('exits with code 4 once the proxy has been unreachable for its orphan timeout', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await runAgent({ RCLAUDE_PROXY_URL: url, RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS: '1500' }, 30_000);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('no proxy for too long');
  });

  it('keeps trying before the timeout, and refuses a timeout that is not a number', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const waiting = await runAgent({ RCLAUDE_PROXY_URL: url }, 3000);
    expect(waiting.signal).toBe('SIGKILL');
    expect(waiting.stderr).toContain('cannot reach proxy');
    const bad = await runAgent({ RCLAUDE_PROXY_URL: url, RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS: 'soon' }, 10_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('RCLAUDE_AGENT_ORPHAN_TIMEOUT_MS must be a positive number');
  });
});
