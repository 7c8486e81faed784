import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLoginUrl, readStateToken, stopSandboxesAndRemove } from '@rclaude/testkit';
import { type Browser, type ConsoleMessage, chromium, type Page } from 'playwright-core';

const run = promisify(execFile);

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(webDir, '../..');
/** The `rclaude` bin npm linked at the repository root, as a user runs it. */
const rclaudeBin = path.join(repoDir, 'node_modules/.bin/rclaude');

/** Debian's Chromium; the tests never download a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure what the test drives is built: the CLI (which also brings the proxy) and the web app the
 * proxy serves. The web build runs only when its output is missing or older than its sources, so a fresh
 * `npm run build` is reused as is.
 */
export async function ensureBuilt(): Promise<void> {
  await run('npx', ['tsc', '-b', 'packages/cli'], { cwd: repoDir, maxBuffer: 16 * 1024 * 1024 });
  const index = path.join(webDir, 'dist/index.html');
  const stale = !existsSync(index) || statSync(index).mtimeMs < newestMtime(path.join(webDir, 'src'));
  if (stale) await run('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: webDir, maxBuffer: 16 * 1024 * 1024 });
}

export interface TestServer {
  url: string;
  /** A fresh one-time login link (works once, for 10 minutes) that opens `path` signed in as the admin. */
  loginUrl(path?: string): Promise<string>;
  /** The admin's API token, from the server's server.json (the server never prints it). */
  token: string;
  dataDir: string;
  /** The end of the server's log (stderr), for failure messages. */
  logTail(): string;
  /** Set if the server exited before `stop()` was called. */
  crashed(): string | null;
  /** Runs the CLI against this server; resolves with stdout, rejects on a non-zero exit. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Starts `rclaude server --port 0 --json` with its own data directory and waits for its ready line. */
export async function startServer(timeoutMs = 120_000): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rclaude-web-e2e-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RCLAUDE_DATA_DIR: dataDir,
    XDG_CONFIG_HOME: path.join(dataDir, 'config'),
  };
  delete env.RCLAUDE_SERVER;
  delete env.RCLAUDE_TOKEN;
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const child = spawn(rclaudeBin, ['server', '--port', '0', '--json'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });

  const ready = await new Promise<{ url: string; stateFile: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready after ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    let first = true;
    lines.on('line', (line) => {
      if (!first) {
        stderr = `${stderr}[stdout] ${line}\n`.slice(-20_000);
        return;
      }
      first = false;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line));
      } catch (error) {
        reject(new Error(`server printed a line that is not JSON: ${line}`, { cause: error }));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${stderr}`));
    });
  });

  let stopping = false;
  let crash: string | null = null;
  child.once('exit', (code, signal) => {
    if (!stopping) crash = `server exited unexpectedly (code ${code}, signal ${signal})`;
  });
  const token = readStateToken(ready.stateFile);
  const cliEnv = { ...env, RCLAUDE_SERVER: ready.url, RCLAUDE_TOKEN: token };
  return {
    url: ready.url,
    token,
    loginUrl: (pagePath) => createLoginUrl(ready.url, token, pagePath),
    dataDir,
    logTail: () => stderr,
    crashed: () => crash,
    async cli(args, cliTimeoutMs = 60_000) {
      try {
        const { stdout } = await run(rclaudeBin, args, {
          env: cliEnv,
          timeout: cliTimeoutMs,
          maxBuffer: 16 * 1024 * 1024,
        });
        return stdout;
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; code?: number };
        throw new Error(`rclaude ${args.join(' ')} failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`, {
          cause: error,
        });
      }
    },
    stop: () => {
      stopping = true;
      return stopProcess(child, dataDir);
    },
  };
}

async function stopProcess(child: ChildProcess, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  // Sandboxes outlive their server by design (a restarted server picks them up): end the ones a test left.
  await stopSandboxesAndRemove(dataDir);
}

/** Headless Chromium with the flags that keep it quiet and offline. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Collects console errors and uncaught page errors, for the "no console errors" check. */
export function collectPageErrors(page: Page, into: string[]): void {
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') into.push(`${page.url()}: console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => into.push(`${page.url()}: uncaught: ${error.message}`));
  // Chromium reports failed requests as bare "Failed to load resource"; name the URL so a failure says which.
  page.on('response', (response) => {
    if (response.status() >= 400)
      into.push(`${page.url()}: HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
  });
}

/** Waits for `check` to return true, polling; fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`, { cause: lastError });
}
