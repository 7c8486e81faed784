/**
 * Sign-in links end to end (issue 16): `rclaude server` prints a one-time link only to a terminal and never
 * its admin token; `rclaude web` mints a fresh link for whoever the CLI is signed in as, opens it with
 * $BROWSER in a terminal, and prints it where there is no display. Real `rclaude server` processes, the
 * linked bin, tmux for the terminals.
 *
 * Runs from the built dist: `npx tsc -b packages/cli` first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type RclaudeServer,
  rclaudeBin,
  runCli,
  startRclaudeServer,
  stopSandboxesAndRemove,
  TmuxTerminal,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
let scratch: string;
const terminals: TmuxTerminal[] = [];

/** A CLI environment with no display and no browser, as over ssh. */
function headless(env: Record<string, string>): Record<string, string> {
  return { ...env, DISPLAY: '', WAYLAND_DISPLAY: '', BROWSER: '' };
}

/** Signs a browser in with a link's token, as the web app does; the status and the user it signed in as. */
async function useLink(url: string): Promise<{ status: number; username?: string; reason?: string }> {
  const token = new URLSearchParams(new URL(url).hash.slice(1)).get('token');
  const res = await fetch(`${new URL(url).origin}/api/auth/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const body = (await res.json()) as { user?: { username: string }; error?: { details?: { reason?: string } } };
  return {
    status: res.status,
    ...(body.user ? { username: body.user.username } : {}),
    ...(body.error?.details?.reason ? { reason: body.error.details.reason } : {}),
  };
}

/** `rclaude ...` as a shell command line for a tmux terminal, with `env` set. */
function shellLine(args: string[], env: Record<string, string>): string {
  const vars = Object.entries(env).map(([k, v]) => `${k}='${v}'`);
  return `env ${vars.join(' ')} ${rclaudeBin()} ${args.join(' ')}`;
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-web-login-'));
  server = await startRclaudeServer();
});

afterAll(async () => {
  for (const t of terminals) t.close();
  await server?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('rclaude server', () => {
  it('prints no token or link when stdout is not a terminal, and keeps the admin token in a 0600 server.json', async () => {
    const log = server.log();
    expect(log).not.toContain(server.token);
    expect(log).not.toMatch(/rcl_|token=/);
    const state = path.join(server.dataDir, 'server.json');
    expect(fs.statSync(state).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(state, 'utf8')).token).toBe(server.token);
  });

  it('prints the banner without a link when piped, naming `rclaude web` instead', async () => {
    const dataDir = fs.mkdtempSync(path.join(scratch, 'piped-'));
    const t = new TmuxTerminal(
      shellLine(['server', '--port', '0', '|', 'cat'], { RCLAUDE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' }),
      { cols: 200 },
    );
    terminals.push(t);
    const screen = await t.waitFor((s) => s.includes('From a terminal on this machine'), 120_000);
    expect(screen).toContain('To open the web app signed in, run on this machine:  rclaude web');
    expect(screen).not.toMatch(/token=|rcl_|rct_/);
    t.keys('C-c');
    await until('the piped server to stop', () => t.exitStatus() !== null, 30_000);
    await stopSandboxesAndRemove(dataDir);
  });

  it('prints a one-time link in a terminal: it signs in once, as the admin', async () => {
    const dataDir = fs.mkdtempSync(path.join(scratch, 'tty-'));
    const t = new TmuxTerminal(shellLine(['server', '--port', '0'], { RCLAUDE_DATA_DIR: dataDir }), { cols: 200 });
    terminals.push(t);
    const screen = await t.waitFor((s) => /#token=rcl_[A-Za-z0-9_-]{43}/.test(s), 120_000);
    expect(screen).toContain('the link works once, for 10 minutes');
    const url = /(http:\/\/\S+#token=rcl_[A-Za-z0-9_-]{43})/.exec(screen)?.[1] ?? '';
    expect(await useLink(url)).toEqual({ status: 200, username: 'admin' });
    expect(await useLink(url)).toEqual({ status: 401, reason: 'used' });
    t.keys('C-c');
    await until('the server in the terminal to stop', () => t.exitStatus() !== null, 30_000);
    await stopSandboxesAndRemove(dataDir);
  });
});

describe('rclaude web', () => {
  it('--json gives a link for the signed-in user that works once', async () => {
    const r = await runCli(['web', '--json'], { env: headless(server.cliEnv()) });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { url: string; expiresAt: string };
    expect(out.url).toMatch(new RegExp(`^${server.url}/#token=rcl_[A-Za-z0-9_-]{43}$`));
    const minutes = (Date.parse(out.expiresAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(9);
    expect(minutes).toBeLessThanOrEqual(10);
    expect(await useLink(out.url)).toEqual({ status: 200, username: 'admin' });
    expect(await useLink(out.url)).toEqual({ status: 401, reason: 'used' });
  });

  it("signs in as the CLI's user, and opens a task's page with TASK", async () => {
    const password = 'a-long-password';
    const add = await runCli(['user', 'add', 'webby'], { env: server.cliEnv(), input: `${password}\n` });
    expect(add.code, add.stderr).toBe(0);
    const config = fs.mkdtempSync(path.join(scratch, 'config-'));
    const env = { RCLAUDE_DATA_DIR: server.dataDir, XDG_CONFIG_HOME: config };
    const signedIn = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'webby', password }),
    });
    const { token } = (await signedIn.json()) as { token: string };
    const login = await runCli(['login', '--server', server.url, '--token', token], { env });
    expect(login.code, login.stderr).toBe(0);
    const task = await runCli(['run', '-d', '--name', 'web-page', '--', 'sleep', '300'], { env });
    expect(task.code, task.stderr).toBe(0);
    const id = task.stdout.trim();

    const r = await runCli(['web', '--print', 'web-page'], { env: headless(env) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${server.url}/tasks/${id}#token=rcl_[A-Za-z0-9_-]{43}\\n$`));
    expect(r.stderr).toMatch(/open this link in a browser; it signs in once, until/);
    expect(await useLink(r.stdout.trim())).toEqual({ status: 200, username: 'webby' });
    await runCli(['stop', id], { env });
  });

  it('prints the link and says why when stdout is not a terminal', async () => {
    const r = await runCli(['web'], { env: { ...server.cliEnv(), DISPLAY: ':99', BROWSER: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/#token=rcl_/);
    expect(r.stderr).toContain('output is not a terminal: open this link in a browser');
  });

  it('prints the link in a terminal without a display, and says so', async () => {
    const t = new TmuxTerminal(shellLine(['web'], headless(server.cliEnv())), { cols: 200 });
    terminals.push(t);
    const screen = await t.waitFor((s) => s.includes('signs in once'), 30_000);
    expect(screen).toContain('no display here ($DISPLAY and $BROWSER are not set)');
    expect(screen).toMatch(/#token=rcl_[A-Za-z0-9_-]{43}/);
  });

  it('opens the link with $BROWSER in a terminal, printing no token', async () => {
    const seen = path.join(scratch, 'browser-saw');
    const browser = path.join(scratch, 'fake-browser');
    fs.writeFileSync(browser, `#!/bin/sh\nprintf '%s' "$1" > ${seen}\n`, { mode: 0o755 });
    const t = new TmuxTerminal(shellLine(['web'], { ...headless(server.cliEnv()), BROWSER: browser }), {
      cols: 200,
    });
    terminals.push(t);
    const screen = await t.waitFor((s) => s.includes('in your browser'), 30_000);
    expect(screen).toContain(`opened ${server.url}/ in your browser`);
    expect(screen).not.toContain('rcl_');
    const url = await until('the browser to be started', () => fs.existsSync(seen) && fs.readFileSync(seen, 'utf8'));
    expect(url).toMatch(/#token=rcl_/);
    expect(await useLink(url)).toEqual({ status: 200, username: 'admin' });
  });
});
