/**
 * The CLI as a new user meets it. Regression: `npx rclaude run` answered `rclaude: not found` on a fresh clone
 * while every other test passed, because the tests ran `node packages/cli/dist/main.js` and npm links a
 * workspace bin only if its target exists at install time.
 *
 * 1. A fresh clone of this repository (its committed HEAD), set up exactly as the README says
 *    (`npm install && npm start`), then `npx rclaude ...` from the clone's root, with a new HOME.
 * 2. The CLI packed as npm would publish it, installed into an empty prefix: it runs against a server without
 *    bringing the server's native parts (embedded Postgres, node-pty, argon2, the Claude Code binary).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RclaudeServer, startRclaudeServer, TmuxTerminal, until } from '@rclaude/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');
/**
 * npm's own set-up on this machine (its cache, and the user config that says where Node's headers are for native
 * builds) stays as a user has it: only rclaude's state starts from nothing.
 */
const npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
const npmUserConfig = execFileSync('npm', ['config', 'get', 'userconfig'], { encoding: 'utf8' }).trim();
const cleanups: (() => void | Promise<void>)[] = [];

afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command to completion; throws with its output when it fails. */
function sh(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): string {
  try {
    return execFileSync(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 300_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** A user's environment: a new HOME, no rclaude settings or test database from this process. */
function userEnv(home: string): NodeJS.ProcessEnv {
  const npm = { npm_config_cache: npmCache, npm_config_userconfig: npmUserConfig };
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...npm };
  for (const k of Object.keys(env)) {
    if (k.startsWith('RCLAUDE_') || k.startsWith('XDG_') || k === 'DATABASE_URL' || k === 'REDIS_URL') delete env[k];
    if (k.startsWith('npm_') && !(k in npm)) delete env[k];
    if (k.startsWith('VITEST') || k === 'NODE_OPTIONS') delete env[k];
  }
  return env;
}

describe('a fresh clone, as the README says', () => {
  it('`npm install && npm start`, then `npx rclaude run` and `npx rclaude ls --json` from the root', async () => {
    const clone = path.join(tempDir('rclaude-clone-'), 'rclaude');
    const home = tempDir('rclaude-home-');
    const env = userEnv(home);
    sh('git', ['clone', '--quiet', repoRoot, clone], { cwd: repoRoot, env });
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: clone, env, timeoutMs: 600_000 });
    // The bin is linked at install time, before anything is built.
    expect(fs.existsSync(path.join(clone, 'node_modules', '.bin', 'rclaude'))).toBe(true);

    // `npm start` builds, then serves; PORT=0 only keeps this test off a port something else may hold. The
    // build reads turbo's cache of this checkout, so the packages `npm test` just built are restored instead of
    // compiled a second time (same inputs, same outputs: turbo keys its cache by content).
    const server: ChildProcess = spawn('npm', ['start'], {
      cwd: clone,
      env: { ...env, PORT: '0', TURBO_CACHE_DIR: turboCacheDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    server.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    server.stderr?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const exited = new Promise<void>((r) => server.once('exit', () => r()));
    cleanups.push(async () => {
      if (server.exitCode === null && server.pid) process.kill(-server.pid, 'SIGTERM');
      await exited;
    });
    await until(
      'the server banner',
      () => out.includes('rclaude server is running at') || server.exitCode !== null,
      300_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; npm start printed:\n${out}`);
    });
    expect(out, out).toContain('rclaude server is running at');
    // stdout is a pipe here, as in a log: no sign-in link in it, only where to get one.
    expect(out).toContain('rclaude web');
    // The log may name a token by its 10-character prefix (as "API token issued" does), never the token.
    expect(out).not.toMatch(/token=|rct_[\w-]{11,}|rcl_/);

    // A second terminal on the same machine: no flags, no login; the CLI finds the local server.
    const t = new TmuxTerminal(
      `cd ${clone} && env HOME=${home} npm_config_cache=${npmCache} npm_config_userconfig=${npmUserConfig} npx rclaude run -- sh -c 'echo hello-from-the-sandbox-$((6*7)); exit 3'`,
    );
    cleanups.push(() => t.close());
    await t.waitFor((s) => s.includes('hello-from-the-sandbox-42'), 60_000);
    await until('rclaude run to exit', () => t.exitStatus() !== null, 30_000);
    expect(t.exitStatus()).toBe(3);

    const ls = JSON.parse(sh('npx', ['rclaude', 'ls', '--json'], { cwd: clone, env, timeoutMs: 60_000 })) as {
      command: string[];
      exitCode: number;
    }[];
    expect(ls).toHaveLength(1);
    expect(ls[0]?.exitCode).toBe(3);
  }, 900_000);
});

describe('the CLI installed on its own', () => {
  let server: RclaudeServer | undefined;
  cleanups.push(async () => {
    await server?.stop();
  });

  it('installs from its packed tarballs without the server, and talks to a server', async () => {
    const packs = tempDir('rclaude-packs-');
    // The CLI and the workspace packages it depends on, as `npm publish` would ship them.
    const workspaces = workspaceClosure('packages/cli');
    for (const ws of workspaces) {
      sh('npm', ['pack', '--silent', '--workspace', ws, '--pack-destination', packs], {
        cwd: repoRoot,
        env: process.env,
      });
    }
    const tarballs = fs.readdirSync(packs).map((f) => path.join(packs, f));
    expect(tarballs.length).toBe(workspaces.length);

    const prefix = tempDir('rclaude-prefix-');
    const home = tempDir('rclaude-home-');
    const env = userEnv(home);
    fs.writeFileSync(path.join(prefix, 'package.json'), '{"name":"laptop","private":true}\n');
    // From npm's cache where it can (the registry only for what the repository's own install never needed).
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], { cwd: prefix, env });

    const installed = path.join(prefix, 'node_modules');
    for (const heavy of ['@rclaude/proxy', '@rclaude/agent', 'node-pty', '@electric-sql/pglite', '@node-rs/argon2']) {
      expect(fs.existsSync(path.join(installed, heavy)), `${heavy} must not be installed`).toBe(false);
    }
    expect(fs.existsSync(path.join(installed, '@anthropic-ai', 'claude-code'))).toBe(false);
    const sizeKb = Number(sh('du', ['-sk', installed], { cwd: prefix, env }).split('\t')[0]);
    console.info(`thin CLI install: ${(sizeKb / 1024).toFixed(1)} MiB in node_modules`);

    const bin = path.join(installed, '.bin', 'rclaude');
    expect(sh(bin, ['--help'], { cwd: prefix, env })).toContain('Usage: rclaude');

    server = await startRclaudeServer();
    const ls = sh(bin, ['ls', '--json'], {
      cwd: prefix,
      env: { ...env, RCLAUDE_SERVER: server.url, RCLAUDE_TOKEN: server.token },
    });
    expect(JSON.parse(ls)).toEqual([]);

    // `rclaude server` says where the server is instead of a module-not-found stack.
    let failure = '';
    try {
      sh(bin, ['server'], { cwd: prefix, env });
    } catch (err) {
      failure = (err as Error).message;
    }
    expect(failure).toContain('the rclaude server is not installed with this CLI');
  }, 300_000);
});

/** `dir` and every workspace package it depends on, transitively, as paths relative to the repository root. */
function workspaceClosure(dir: string, seen = new Set<string>()): string[] {
  if (seen.has(dir)) return [];
  seen.add(dir);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (name.startsWith('@rclaude/')) workspaceClosure(`packages/${name.slice('@rclaude/'.length)}`, seen);
  }
  return [...seen];
}

/** Turbo's local cache of this checkout (of its main worktree, when this is a `git worktree`). */
function turboCacheDir(): string {
  const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
    cwd: repoRoot,
    encoding: 'utf8',
  }).trim();
  return path.join(path.dirname(common), '.turbo', 'cache');
}
