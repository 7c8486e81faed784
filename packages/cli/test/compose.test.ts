/**
 * `docker/compose.yml` as a user starts it: the proxy image with Postgres and Redis, the docker provider as
 * its default, then `rclaude login` and `rclaude run` from this machine through the bin npm linked. The
 * postgres and redis images cannot be pulled here; `docker/build.sh standins` makes stand-ins from Debian's
 * packages under the names the compose file gives, so the file runs unchanged. Everything this test makes
 * (its compose project, its volumes, its sandbox containers) carries its own names and is removed after.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, runCli, until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../../..');
const composeFile = path.join(repo, 'docker/compose.yml');
const project = `rclaude-e2e-${randomBytes(4).toString('hex')}`;
const installation = `compose-${randomBytes(4).toString('hex')}`;

let port: number;
let agentDir: string;
let home: string;
let composeEnv: NodeJS.ProcessEnv;

async function compose(...args: string[]): Promise<string> {
  const r = await exec('docker-compose', ['-p', project, '-f', composeFile, ...args], {
    env: composeEnv,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return r.stdout.trim();
}

async function docker(...args: string[]): Promise<string> {
  return (await exec('docker', args, { timeout: 60_000 })).stdout.trim();
}

/** The CLI as a user on this machine runs it: a fresh HOME, the server it logged in to. */
const cli = (args: string[], input?: string) =>
  runCli(args, {
    env: { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), RCLAUDE_SERVER: '', RCLAUDE_TOKEN: '' },
    timeoutMs: 180_000,
    ...(input === undefined ? {} : { input }),
  });

beforeAll(async () => {
  for (const image of [
    'postgres:17.6-bookworm',
    'redis:7.4.5-bookworm',
    'rclaude-proxy:0.1.0',
    'rclaude-sandbox:0.1.0',
  ]) {
    const found = await docker('images', '-q', image);
    expect(found, `${image} is missing: run docker/build.sh and docker/build.sh standins`).not.toBe('');
  }
  port = await freePort();
  // The agents' socket folder: the same path on this host and in the proxy container, owned by its uid 1000.
  agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-compose-agent-'));
  fs.chmodSync(agentDir, 0o755);
  fs.chownSync(agentDir, 1000, 1000);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-compose-home-'));
  const dockerGid = (await exec('getent', ['group', 'docker'])).stdout.split(':')[2] ?? '';
  composeEnv = {
    ...process.env,
    RCLAUDE_SECRET_KEY: randomBytes(32).toString('base64'),
    POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
    DOCKER_GID: dockerGid,
    RCLAUDE_AGENT_DIR: agentDir,
    RCLAUDE_PORT: String(port),
    RCLAUDE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    RCLAUDE_INSTALLATION: installation,
  };
  await compose('up', '-d', '--no-build');
  await until(
    'the proxy to answer /readyz',
    async () => {
      // docker-proxy accepts on the mapped port before the server listens: bound each try.
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
        () => null,
      );
      return res?.ok ? true : undefined;
    },
    240_000,
  );
}, 300_000);

afterAll(async () => {
  if (composeEnv) {
    if (process.env.RCLAUDE_TEST_LOG)
      fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, await compose('logs', '--no-color'));
    await compose('down', '-v', '--remove-orphans').catch(() => '');
  }
  const label = `label=org.rclaude.installation=${installation}`;
  const containers = (await docker('ps', '-aq', '--filter', label)).split('\n').filter(Boolean);
  if (containers.length > 0) await docker('rm', '-f', '-v', ...containers);
  const volumes = (await docker('volume', 'ls', '-q', '--filter', label)).split('\n').filter(Boolean);
  if (volumes.length > 0) await docker('volume', 'rm', '-f', ...volumes);
  for (const dir of [agentDir, home]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('docker/compose.yml', () => {
  it('brings up the proxy on Postgres and Redis; a user logs in and runs a task in a docker sandbox', async () => {
    // The first admin's token, minted inside the proxy container as docs/docker.md says.
    const token = await compose('exec', '-T', 'proxy', 'rclaude', 'token', 'create', 'laptop');
    expect(token).toMatch(/^rct_/);

    const login = await cli(['login', '--server', `http://127.0.0.1:${port}`, '--token', token]);
    expect(login.code, login.stderr).toBe(0);

    const r = await cli(['run', '--', 'sh', '-c', 'echo hello-from-compose-$((6*7)); id -u; ls /sys/class/net']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('hello-from-compose-42');
    expect(r.stdout).toMatch(/^1000\r?$/m);
    expect(r.stdout).toMatch(/^lo\r?$/m);

    // The task is stored in compose's Postgres, and ran under the docker provider.
    const ls = await cli(['ls', '--json']);
    const [task] = JSON.parse(ls.stdout) as { id: string; provider: string; exitCode: number | null }[];
    expect(task).toMatchObject({ provider: 'docker', exitCode: 0 });
    const stored = await compose(
      'exec',
      '-T',
      'postgres',
      'psql',
      '-U',
      'rclaude',
      '-d',
      'rclaude',
      '-tAc',
      `select provider from tasks where id = '${task?.id}'`,
    );
    expect(stored).toBe('docker');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await ready.json()).toEqual({ ok: true, checks: { database: { ok: true }, redis: { ok: true } } });
  });
});
