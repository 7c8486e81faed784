import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { loginLinkSchema, loginLinkUrl } from '@rclaude/protocol';

const require = createRequire(import.meta.url);

/**
 * The `rclaude` command as a user runs it: the bin npm linked at the repository root (`npx rclaude` runs the
 * same file), executed directly through its shebang. Tests run `npm run build` first.
 */
export function rclaudeBin(): string {
  const cliDir = path.dirname(require.resolve('rclaude/package.json'));
  return path.join(cliDir, '..', '..', 'node_modules', '.bin', 'rclaude');
}

export interface RclaudeServer {
  url: string;
  /** The admin's API token, read from the server's 0600 server.json as a CLI on this machine does. */
  token: string;
  /** A fresh one-time login link (works once, for 10 minutes) that opens the web app as the admin. */
  createLoginUrl(path?: string): Promise<string>;
  /** RCLAUDE_METRICS_TOKEN of this server (the caller's, or a random one). */
  metricsToken: string;
  dataDir: string;
  process: ChildProcess;
  /** Scrapes `/metrics` with the metrics token; the Prometheus text. Throws unless it answers 200. */
  metrics(): Promise<string>;
  /** Everything the server wrote to stderr (its log), for assertions and failure messages. */
  log(): string;
  /** Environment for CLI runs against this server. */
  cliEnv(): Record<string, string>;
  /**
   * One raw API request, as the admin unless `token` is given, for tests that look at status codes and bodies
   * (a JSON body is parsed, anything else left in `text`). Typed calls go through `@rclaude/client`.
   */
  request<T = unknown>(method: string, urlPath: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  /** As `request`, but throws with the status and body unless the answer is 2xx; resolves to the parsed JSON body, or the text. */
  requestOk<T = unknown>(method: string, urlPath: string, opts?: RequestOptions): Promise<T>;
  /** SIGTERM and wait; removes the data dir unless `keepData`. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL and wait (a crash). */
  kill(): Promise<void>;
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** `request` of RclaudeServer, against any server URL. */
export async function apiRequest<T = unknown>(
  baseUrl: string,
  token: string,
  method: string,
  urlPath: string,
  opts: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const hasBody = opts.body !== undefined;
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? token}`,
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
    },
    ...(hasBody ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json') && text !== '';
  return { status: res.status, body: (json ? JSON.parse(text) : null) as T, text, headers: res.headers };
}

export interface StartServerOptions {
  env?: Record<string, string>;
  /** Reuse a data dir (e.g. to restart a killed server on the same state). */
  dataDir?: string;
  port?: number;
  timeoutMs?: number;
}

/**
 * Starts `rclaude server --port 0 --json` as a real child process on a fresh data dir and resolves once it
 * prints its URL line; the admin token comes from the state file that line names (the server never prints it).
 */
export async function startRclaudeServer(opts: StartServerOptions = {}): Promise<RclaudeServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-test-'));
  // `/metrics` answers only with a token configured: every test server gets one, so tests can scrape.
  const metricsToken = opts.env?.RCLAUDE_METRICS_TOKEN ?? randomBytes(24).toString('hex');
  const env = {
    ...process.env,
    RCLAUDE_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    RCLAUDE_METRICS_TOKEN: metricsToken,
    ...opts.env,
  };
  const child = spawn(rclaudeBin(), ['server', '--port', String(opts.port ?? 0), '--json'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const ready = await new Promise<{ url: string; stateFile: string }>((resolve, rejectStart) => {
    // A server that never became ready must not outlive the test that started it.
    const reject = (err: Error) => {
      child.kill('SIGKILL');
      rejectStart(err);
    };
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`server did not start in time:\n${stderr}`)),
      opts.timeoutMs ?? 120_000,
    );
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch {
          reject(new Error(`unexpected server output: ${out}\n${stderr}`));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${stderr}`));
    });
  });
  const token = readStateToken(ready.stateFile);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const wait = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    url: ready.url,
    token,
    createLoginUrl: (path) => createLoginUrl(ready.url, token, path),
    metricsToken,
    dataDir,
    process: child,
    async metrics() {
      const res = await fetch(`${ready.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
      return text;
    },
    log: () => stderr,
    cliEnv: () => ({ RCLAUDE_SERVER: ready.url, RCLAUDE_TOKEN: token, RCLAUDE_DATA_DIR: dataDir }),
    request: (method, urlPath, o) => apiRequest(ready.url, token, method, urlPath, o),
    async requestOk<T>(method: string, urlPath: string, o?: RequestOptions) {
      const res = await apiRequest<T>(ready.url, token, method, urlPath, o);
      if (res.status < 200 || res.status > 299) throw new Error(`${method} ${urlPath}: ${res.status} ${res.text}`);
      return (res.headers.get('content-type') ?? '').includes('json') ? res.body : (res.text as T);
    },
    async stop(o = {}) {
      await wait('SIGTERM');
      if (!o.keepData && !opts.dataDir) await stopSandboxesAndRemove(dataDir);
    },
    async kill() {
      await wait('SIGKILL');
    },
  };
}

/** The admin token a running server left in its state file (`server.json`, mode 0600). */
export function readStateToken(stateFile: string): string {
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { token?: unknown };
  if (typeof state.token !== 'string') throw new Error(`${stateFile} has no token`);
  return state.token;
}

/** Asks the server for a one-time login link for the token's user, as `rclaude web --print` does. */
export async function createLoginUrl(baseUrl: string, token: string, path = '/'): Promise<string> {
  const res = await fetch(`${baseUrl}/api/auth/login-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 201) throw new Error(`POST /api/auth/login-links: ${res.status} ${await res.text()}`);
  const link = loginLinkSchema.parse(await res.json());
  return loginLinkUrl(baseUrl, link.token, path);
}

/** Kills any sandbox a test left behind under `dataDir`, then removes it. */
export async function stopSandboxesAndRemove(dataDir: string): Promise<void> {
  const root = path.join(dataDir, 'sandboxes');
  for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    try {
      const pid = Number.parseInt(fs.readFileSync(path.join(root, id, 'ref'), 'utf8'), 10);
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // Not started, or gone.
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI once with pipes (not a TTY) and collects its output. */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(rclaudeBin(), args, {
      env: { ...process.env, ...opts.env },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rclaude ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
  });
}
