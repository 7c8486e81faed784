/**
 * The warm pool end to end (RCLAUDE_WARM_POOL_SIZE=1, real bwrap sandboxes): a task claims the pooled
 * sandbox and runs with its owner's secrets in an empty workspace; the next user's task gets a fresh
 * sandbox, never the previous one, and sees neither the previous secrets nor files. A resume claims the pooled
 * sandbox too, and the checkpoint is restored into it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type RclaudeServer, runCli, startRclaudeServer, stopSandboxesAndRemove, until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;

beforeAll(async () => {
  server = await startRclaudeServer({ env: { RCLAUDE_WARM_POOL_SIZE: '1' }, timeoutMs: 120_000 });
}, 180_000);

let restarted: RclaudeServer | null = null;

afterAll(async () => {
  if (restarted) {
    await restarted.stop();
    await stopSandboxesAndRemove(restarted.dataDir);
  } else await server?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await server.metrics();
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Whether the sandbox process a local sandbox's `ref` names (pid and start time) is still running. */
/** The sandboxes under `root` (a data dir's `sandboxes/`) whose process is still alive. */
function runningSandboxes(root: string): string[] {
  return fs
    .readdirSync(root)
    .filter((d) => fs.existsSync(path.join(root, d, 'ref')))
    .filter((d) => alive(fs.readFileSync(path.join(root, d, 'ref'), 'utf8')));
}

function alive(ref: string): boolean {
  const [pid, started] = ref.split(':');
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === started;
  } catch {
    return false;
  }
}

const PROBE =
  'echo probe=$POOL_PROBE; ls -A /workspace | wc -l; cat /workspace/left.txt 2>&1; echo left-by-$POOL_PROBE > /workspace/left.txt';

describe('warm pool', () => {
  it('binds each claimed sandbox to one task and one user, and refills with a fresh one', async () => {
    const adminToken = server.token;
    await server.requestOk('POST', '/api/users', {
      token: adminToken,
      body: { username: 'bob', password: 'correct horse battery', role: 'user' },
    });
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'correct horse battery' }),
    });
    const bob = (await login.json()) as { token: string };
    await server.requestOk('PUT', '/api/secrets/POOL_PROBE', { token: adminToken, body: { value: 'admin-secret' } });
    await server.requestOk('PUT', '/api/secrets/POOL_PROBE', { token: bob.token, body: { value: 'bob-secret' } });

    await until('the pool to be ready', async () => (await metric('rclaude_warm_pool_ready')) === 1);
    const first = await runCli(['run', '--', 'sh', '-c', PROBE], { env: server.cliEnv() });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('probe=admin-secret');
    // An empty workspace: nothing listed, no file left by anyone.
    expect(first.stdout).toMatch(/^0\r?$/m);
    expect(first.stdout).toMatch(/No such file/);
    expect(await metric('rclaude_warm_pool_claims_total{result="hit"}')).toBe(1);

    await until('the pool to refill', async () => (await metric('rclaude_warm_pool_ready')) === 1);
    const second = await runCli(['run', '--', 'sh', '-c', PROBE], {
      env: { ...server.cliEnv(), RCLAUDE_TOKEN: bob.token },
    });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('probe=bob-secret');
    expect(second.stdout).not.toContain('admin-secret');
    expect(second.stdout).toMatch(/^0\r?$/m);
    expect(second.stdout).toMatch(/No such file/);
    expect(await metric('rclaude_warm_pool_claims_total{result="hit"}')).toBe(2);

    // Every sandbox that served a task is stopped with it; only the refilled pool sandbox still runs.
    const root = path.join(server.dataDir, 'sandboxes');
    await until('claimed sandboxes to stop', async () => {
      const dirs = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'ref')));
      const used = dirs.filter((d) => fs.existsSync(path.join(root, d, 'workspace', 'left.txt')));
      const running = dirs.filter((d) => alive(fs.readFileSync(path.join(root, d, 'ref'), 'utf8')));
      const fresh = running.length === 1 && !used.includes(running[0] as string);
      return used.length === 2 && fresh && (await metric('rclaude_warm_pool_ready')) === 1;
    });
  }, 180_000);

  it('a resume claims the pooled sandbox and restores the checkpoint into it', async () => {
    const root = path.join(server.dataDir, 'sandboxes');
    const running = () => runningSandboxes(root);
    await until('the pool to be ready', async () => (await metric('rclaude_warm_pool_ready')) === 1);
    // (A resume starts the program again: the file is written beside it, not by it.)
    const run = await runCli(['run', '--detach', '--json', '--', 'sleep', '600'], { env: server.cliEnv() });
    expect(run.code, run.stderr).toBe(0);
    const id = (JSON.parse(run.stdout) as { id: string }).id;
    const task = () => server.requestOk<{ status: string }>('GET', `/api/tasks/${id}`);
    await until('the task to run', async () => (await task()).status === 'running');
    const write = await runCli(['exec', id, '--', 'sh', '-c', 'echo kept-$(date +%s%N) > kept.txt; cat kept.txt'], {
      env: server.cliEnv(),
    });
    expect(write.code, write.stderr).toBe(0);
    const wrote = write.stdout;
    expect(wrote).toMatch(/^kept-\d+\n$/);
    expect((await server.requestOk<{ status: string }>('POST', `/api/tasks/${id}/stop`)).status).toBe('stopped');

    await until('the pool to be ready', async () => (await metric('rclaude_warm_pool_ready')) === 1);
    const pooled = running();
    expect(pooled).toHaveLength(1);
    const hits = await metric('rclaude_warm_pool_claims_total{result="hit"}');
    await server.requestOk('POST', `/api/tasks/${id}/resume`, { body: {} });
    await until('the resumed task to run', async () => (await task()).status === 'running');
    expect(await metric('rclaude_warm_pool_claims_total{result="hit"}')).toBe(hits + 1);
    // The pooled sandbox is the one that now holds the task's restored workspace.
    const restored = await runCli(['exec', id, '--', 'cat', 'kept.txt'], { env: server.cliEnv() });
    expect(restored.stdout).toBe(wrote);
    expect(fs.readFileSync(path.join(root, pooled[0] as string, 'workspace', 'kept.txt'), 'utf8')).toBe(wrote);
    const { events } = await server.requestOk<{ events: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/api/tasks/${id}/events`,
    );
    expect(events.find((e) => e.type === 'restore')?.data).toMatchObject({ mismatches: [] });
    expect(events.some((e) => e.type === 'status' && e.data.reason === 'claimed a warm sandbox')).toBe(true);

    await server.requestOk('POST', `/api/tasks/${id}/stop`, { body: { force: true } });
    await until('only a fresh pooled sandbox to run', async () => {
      const now = running();
      return now.length === 1 && now[0] !== pooled[0] && (await metric('rclaude_warm_pool_ready')) === 1;
    });
  }, 180_000);

  it('stops the sandboxes a crashed server left pooled, and fills the pool anew', async () => {
    const root = path.join(server.dataDir, 'sandboxes');
    const running = () => runningSandboxes(root);
    await until('the pool to be ready', async () => (await metric('rclaude_warm_pool_ready')) === 1);
    const left = running();
    expect(left).toHaveLength(1);
    await server.kill();
    // Sandboxes outlive their server (they reconnect to the next one): the pooled one is still there.
    expect(running()).toEqual(left);
    const next = await startRclaudeServer({
      dataDir: server.dataDir,
      env: { RCLAUDE_WARM_POOL_SIZE: '1' },
      timeoutMs: 120_000,
    });
    restarted = next;
    await until('a new pooled sandbox, and the old one gone', async () => {
      const now = running();
      const text = await next.metrics();
      return now.length === 1 && now[0] !== left[0] && /^rclaude_warm_pool_ready 1$/m.test(text);
    });
  }, 180_000);
});
