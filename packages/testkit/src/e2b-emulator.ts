/**
 * An E2B emulator for tests: the real `e2b` SDK talks to it (`apiUrl`, `sandboxUrl`, any API key), and
 * every command run in an emulated sandbox is a real local child process, so the real agent started by a
 * provider dials the real proxy.
 *
 * Two loopback servers, like E2B itself: the control plane (JSON, `X-API-KEY`) and one envd endpoint for
 * every sandbox (requests name the sandbox in `E2b-Sandbox-Id` and carry its `X-Access-Token`). envd speaks
 * the Connect protocol with the JSON codec: server-streaming `process.Process/Start` and `/Connect`
 * (envelopes: start, data, keepalive, end, then the closing 0x02 envelope), unary `/SendSignal` and
 * `/List`, plus `GET/POST /files` and `GET /health`.
 *
 * Pause and resume, as the SDK (e2b 2.51.0, `node_modules/e2b/dist/index.mjs`) calls them: `SandboxApi.pause` is
 * `POST /sandboxes/{id}/pause` with `{memory}`, answered 204; 404 becomes `SandboxNotFoundError` and 409 (already
 * paused) makes it return false. `Sandbox.connect` (`SandboxApi.connectSandbox`) is `POST /v2/sandboxes/{id}/connect`
 * with `{timeout}` in seconds: it resumes a paused sandbox (or just answers for a running one) with 200 and the
 * sandbox's envd access token; 404 becomes `SandboxNotFoundError('Paused sandbox … not found')`. A paused
 * sandbox's whole process tree is stopped (SIGSTOP, memory kept: a VM snapshot), its envd connections drop and
 * envd does not answer it (502, as for a sandbox that is not running); its timeout does not run while paused;
 * `GET /sandboxes/{id}` says `state: paused`. `vanish()` plays E2B dropping a paused sandbox.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type EmulatorRequest,
  FailureQueue,
  listenLoopback,
  parseLogged,
  readBody,
  sendJson,
} from './emulator-http.js';
import {
  baseSandboxEnv,
  type CommandMapping,
  createSandboxFs,
  EmulatedProcess,
  type SandboxFs,
  toEmulatedCommand,
} from './emulator-process.js';

export type E2bApiOperation =
  | 'createSandbox'
  | 'listSandboxes'
  | 'getSandbox'
  | 'killSandbox'
  | 'setTimeout'
  | 'connectSandbox'
  | 'pauseSandbox';
export type E2bEnvdOperation =
  | 'process.Start'
  | 'process.Connect'
  | 'process.SendSignal'
  | 'process.List'
  | 'files.read'
  | 'files.write'
  | 'health';

/** What `commandFor` is told about a command started in a sandbox. */
export interface E2bCommandContext {
  sandboxId: string;
  templateId: string;
  /** The program envd was asked to run (the SDK always sends `/bin/bash`). */
  cmd: string;
  args: string[];
  /** The command string of `bash -l -c CMD` (what `commands.run` was given), else null. */
  command: string | null;
  /** Sandbox `envVars` merged with the command's own `envs` (the command's win). */
  env: Record<string, string>;
  /** In-sandbox working directory asked for, or null. */
  cwd: string | null;
  fs: SandboxFs;
}

export interface E2bEmulatorOptions {
  /**
   * Maps a command to the local process that plays it. Return null to run `cmd args` as given (a local
   * `/bin/bash -l -c CMD`). Throwing makes envd answer an `internal` error.
   */
  commandFor(ctx: E2bCommandContext): CommandMapping | null;
  /** Accepted API keys. Default: any non-empty key. */
  apiKeys?: string[];
  /** Known templates and their size. Default: any template, 2 vCPU / 512 MB. */
  templates?: Record<string, { cpuCount: number; memoryMB: number }>;
  /** Reported envd version (semver). Default `0.6.4`, which enables every SDK feature. */
  envdVersion?: string;
  /** Longest sandbox timeout the "plan" allows, seconds (Hobby: 3600, Pro: 86400). Default 3600. */
  maxTimeoutSeconds?: number;
  /** Interval of keepalive events on process streams, ms. Default: the client's `Keepalive-Ping-Interval`. */
  keepaliveIntervalMs?: number;
}

/** Faults to inject. Each is consumed by the first matching call(s); `times` defaults to 1. */
export type E2bFailure =
  /** The next control-plane call (of `operation`, or any) answers `status` (401, 429, 500, 503...). */
  | {
      kind: 'apiError';
      operation?: E2bApiOperation;
      status: number;
      message?: string;
      retryAfterSeconds?: number;
      times?: number;
    }
  /** The next envd call (of `operation`, or any) fails: HTTP `status` for unary calls, a Connect error for streams. */
  | { kind: 'envdError'; operation?: E2bEnvdOperation; status: number; message?: string; times?: number }
  /** The next `process.Start` never answers its start event and runs nothing (the agent never starts). */
  | { kind: 'neverStart'; times?: number };

/** Why an emulated sandbox went away. */
export type E2bKillReason = 'api' | 'timeout' | 'external' | 'emulator-closed' | 'vanished';

export interface EmulatedE2bProcess {
  pid: number;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | null;
  tag: string | null;
  process: EmulatedProcess;
}

export interface EmulatedE2bSandbox {
  sandboxId: string;
  templateId: string;
  envVars: Record<string, string>;
  metadata: Record<string, string>;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms at which the sandbox's timeout kills it. */
  endAt: number;
  fs: SandboxFs;
  processes: Map<number, EmulatedE2bProcess>;
  /** Null while alive. */
  killed: E2bKillReason | null;
  /** While paused: the pids stopped with SIGSTOP (every process of the sandbox, its PTYs' children too). */
  paused: number[] | null;
}

export interface E2bEmulator {
  /** Give to the SDK as `apiUrl` (or `E2B_API_URL`). */
  apiUrl: string;
  /** Give to the SDK as `sandboxUrl` (or `E2B_SANDBOX_URL`). */
  sandboxUrl: string;
  /** An API key the emulator accepts. */
  apiKey: string;
  requests: EmulatorRequest[];
  requestsOf(operation: E2bApiOperation | E2bEnvdOperation): EmulatorRequest[];
  /** Live sandboxes. */
  sandboxes(): EmulatedE2bSandbox[];
  /** A sandbox, live or killed. */
  sandbox(sandboxId: string): EmulatedE2bSandbox | undefined;
  fail(failure: E2bFailure): void;
  /** Kills a sandbox from outside (E2B dashboard, host failure): processes die, open streams drop. */
  kill(sandboxId: string, reason?: E2bKillReason): Promise<void>;
  /**
   * Drops a paused sandbox as E2B may (its snapshot gone): its processes die and E2B no longer knows it, so a
   * resume (connect) answers 404. Throws unless the sandbox is paused.
   */
  vanish(sandboxId: string): Promise<void>;
  close(): Promise<void>;
}

interface SandboxRecord extends EmulatedE2bSandbox {
  clientId: string;
  accessToken: string;
  cpuCount: number;
  memoryMB: number;
  timer: NodeJS.Timeout | null;
  streams: Set<http.ServerResponse>;
}

class E2bHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Connect error codes by HTTP status (https://connectrpc.com/docs/protocol#error-codes). */
function connectCode(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_argument';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 408:
      return 'deadline_exceeded';
    case 409:
      return 'already_exists';
    case 429:
      return 'resource_exhausted';
    case 501:
      return 'unimplemented';
    case 502:
    case 503:
    case 504:
      return 'unavailable';
    default:
      return 'internal';
  }
}

/** One Connect envelope: flags byte, 4-byte big-endian length, JSON. */
function envelope(flags: number, message: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

function firstEnvelope(buf: Buffer): Record<string, unknown> {
  if (buf.length < 5) throw new E2bHttpError(400, 'missing request envelope');
  const length = buf.readUInt32BE(1);
  const parsed = JSON.parse(buf.subarray(5, 5 + length).toString('utf8')) as unknown;
  return asRecord(parsed);
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
function asStringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(value))) if (typeof v === 'string') out[k] = v;
  return out;
}

const SIGNALS: Record<string, NodeJS.Signals> = {
  SIGNAL_SIGKILL: 'SIGKILL',
  SIGNAL_SIGTERM: 'SIGTERM',
  '9': 'SIGKILL',
  '15': 'SIGTERM',
};

export async function startE2bEmulator(options: E2bEmulatorOptions): Promise<E2bEmulator> {
  const envdVersion = options.envdVersion ?? '0.6.4';
  const maxTimeoutSeconds = options.maxTimeoutSeconds ?? 3600;
  const defaultKey = `e2b_${randomBytes(20).toString('hex')}`;
  const requests: EmulatorRequest[] = [];
  const failures = new FailureQueue<E2bFailure>();
  const sandboxes = new Map<string, SandboxRecord>();
  const killedSandboxes = new Map<string, SandboxRecord>();

  const log = (service: string, operation: string, req: http.IncomingMessage, raw: Buffer | null): EmulatorRequest => {
    const entry: EmulatorRequest = {
      service,
      operation,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: raw ? parseLogged(raw, req.headers['content-type']) : null,
      status: 0,
    };
    requests.push(entry);
    return entry;
  };

  const killSandbox = async (sandbox: SandboxRecord, reason: E2bKillReason) => {
    if (sandbox.killed) return;
    sandbox.killed = reason;
    if (sandbox.timer) clearTimeout(sandbox.timer);
    const frozen = sandbox.paused ?? [];
    sandbox.paused = null;
    sandboxes.delete(sandbox.sandboxId);
    killedSandboxes.set(sandbox.sandboxId, sandbox);
    // A dying VM cuts its connections: no end event, no closing envelope.
    for (const res of sandbox.streams) res.destroy();
    sandbox.streams.clear();
    for (const pid of frozen) signalPid(pid, 'SIGKILL');
    await Promise.all(
      [...sandbox.processes.values()].map((p) => {
        p.process.signal('SIGKILL');
        return p.process.exited;
      }),
    );
  };

  /** A VM snapshot: every process of the sandbox stops where it is (memory kept), its connections drop. */
  const pauseSandbox = (sandbox: SandboxRecord) => {
    if (sandbox.timer) clearTimeout(sandbox.timer);
    sandbox.timer = null;
    // Parents first, then what they started, until nothing new appears: a PTY's shell is in its own session, out
    // of the process group the emulator started, and a running parent could fork between two reads.
    const stopped = new Set<number>();
    for (let round = 0; round < 10; round++) {
      const tree = processTree([...sandbox.processes.keys()]).filter((pid) => !stopped.has(pid));
      if (tree.length === 0) break;
      for (const pid of tree) if (signalPid(pid, 'SIGSTOP')) stopped.add(pid);
    }
    sandbox.paused = [...stopped];
    for (const res of sandbox.streams) res.destroy();
    sandbox.streams.clear();
  };

  const resumeSandbox = (sandbox: SandboxRecord) => {
    for (const pid of sandbox.paused ?? []) signalPid(pid, 'SIGCONT');
    sandbox.paused = null;
  };

  const armTimeout = (sandbox: SandboxRecord, seconds: number) => {
    if (sandbox.timer) clearTimeout(sandbox.timer);
    sandbox.endAt = Date.now() + seconds * 1000;
    sandbox.timer = setTimeout(() => void killSandbox(sandbox, 'timeout'), seconds * 1000);
    sandbox.timer.unref();
  };

  const checkTimeout = (value: unknown, fallback: number): number => {
    const seconds = typeof value === 'number' ? value : fallback;
    if (!Number.isInteger(seconds) || seconds < 0)
      throw new E2bHttpError(400, 'timeout must be a non-negative integer');
    if (seconds > maxTimeoutSeconds) {
      throw new E2bHttpError(400, `Timeout cannot be greater than ${maxTimeoutSeconds / 3600} hours`);
    }
    return seconds;
  };

  const sandboxDetail = (s: SandboxRecord) => ({
    templateID: s.templateId,
    sandboxID: s.sandboxId,
    clientID: s.clientId,
    startedAt: new Date(s.startedAt).toISOString(),
    endAt: new Date(s.endAt).toISOString(),
    cpuCount: s.cpuCount,
    memoryMB: s.memoryMB,
    diskSizeMB: 10240,
    metadata: s.metadata,
    state: s.paused ? 'paused' : 'running',
    envdVersion,
    volumeMounts: [],
  });

  const liveSandbox = (id: string): SandboxRecord => {
    const sandbox = sandboxes.get(id);
    if (!sandbox) throw new E2bHttpError(404, `sandbox "${id}" doesn't exist or you don't have access to it`);
    return sandbox;
  };

  // ---- control plane -------------------------------------------------------------------------------

  const apiRoutes: { method: string; pattern: RegExp; operation: E2bApiOperation }[] = [
    { method: 'POST', pattern: /^\/v2\/sandboxes$/, operation: 'createSandbox' },
    { method: 'GET', pattern: /^\/v2\/sandboxes$/, operation: 'listSandboxes' },
    { method: 'GET', pattern: /^\/sandboxes\/([^/]+)$/, operation: 'getSandbox' },
    { method: 'DELETE', pattern: /^\/sandboxes\/([^/]+)$/, operation: 'killSandbox' },
    { method: 'POST', pattern: /^\/sandboxes\/([^/]+)\/timeout$/, operation: 'setTimeout' },
    { method: 'POST', pattern: /^\/v2\/sandboxes\/([^/]+)\/connect$/, operation: 'connectSandbox' },
    { method: 'POST', pattern: /^\/sandboxes\/([^/]+)\/pause$/, operation: 'pauseSandbox' },
  ];

  const handleApi = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const route = apiRoutes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
    const raw = await readBody(req);
    const entry = log('api', route?.operation ?? `${req.method} ${url.pathname}`, req, raw);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      if (status === 204) {
        res.writeHead(204, headers);
        res.end();
      } else {
        sendJson(res, status, body, headers);
      }
    };
    const fail = (status: number, message: string, headers: Record<string, string> = {}) =>
      reply(status, { code: status, message }, headers);
    const key = req.headers['x-api-key'];
    if (typeof key !== 'string' || key === '' || (options.apiKeys && !options.apiKeys.includes(key))) {
      fail(401, 'Invalid API key, please visit https://e2b.dev/docs to get your API key');
      return;
    }
    if (!route) {
      fail(404, `${req.method} ${url.pathname} is not emulated`);
      return;
    }
    const injected = failures.take(
      (f) => f.kind === 'apiError' && (f.operation === undefined || f.operation === route.operation),
    );
    if (injected?.kind === 'apiError') {
      const headers: Record<string, string> =
        injected.retryAfterSeconds === undefined ? {} : { 'retry-after': String(injected.retryAfterSeconds) };
      fail(injected.status, injected.message ?? `injected ${injected.status}`, headers);
      return;
    }
    const id = decodeURIComponent(url.pathname.match(route.pattern)?.[1] ?? '');
    const body = asRecord(raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {});
    try {
      switch (route.operation) {
        case 'createSandbox': {
          const templateId = typeof body.templateID === 'string' ? body.templateID : '';
          const size = options.templates ? options.templates[templateId] : { cpuCount: 2, memoryMB: 512 };
          if (!templateId || !size) throw new E2bHttpError(404, `template '${templateId}' not found`);
          const timeout = checkTimeout(body.timeout, 300);
          const sandboxId = randomBytes(10).toString('hex');
          const sandbox: SandboxRecord = {
            sandboxId,
            templateId,
            envVars: asStringMap(body.envVars),
            metadata: asStringMap(body.metadata),
            startedAt: Date.now(),
            endAt: 0,
            fs: await createSandboxFs('rclaude-e2b-sandbox'),
            processes: new Map(),
            killed: null,
            paused: null,
            clientId: randomBytes(4).toString('hex'),
            accessToken: randomBytes(24).toString('hex'),
            cpuCount: size.cpuCount,
            memoryMB: size.memoryMB,
            timer: null,
            streams: new Set(),
          };
          sandboxes.set(sandboxId, sandbox);
          armTimeout(sandbox, timeout);
          reply(201, {
            templateID: templateId,
            sandboxID: sandboxId,
            clientID: sandbox.clientId,
            envdVersion,
            envdAccessToken: sandbox.accessToken,
            domain: null,
          });
          return;
        }
        case 'listSandboxes': {
          const wanted: [string, string][] = [];
          const metadata = url.searchParams.get('metadata');
          if (metadata) {
            for (const [k, v] of new URLSearchParams(metadata)) wanted.push([safeDecode(k), safeDecode(v)]);
          }
          const states = (url.searchParams.get('state') ?? 'running,paused').split(',');
          const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 100) || 100, 1), 100);
          const offset = Number(Buffer.from(url.searchParams.get('nextToken') ?? '', 'base64').toString() || '0');
          const matching = [...sandboxes.values()]
            .filter((s) => states.includes(s.paused ? 'paused' : 'running'))
            .filter((s) => wanted.every(([k, v]) => s.metadata[k] === v));
          const page = matching.slice(offset, offset + limit).map(sandboxDetail);
          const headers: Record<string, string> =
            offset + limit < matching.length
              ? { 'x-next-token': Buffer.from(String(offset + limit)).toString('base64') }
              : {};
          reply(200, page, headers);
          return;
        }
        case 'getSandbox':
          reply(200, { ...sandboxDetail(liveSandbox(id)), envdAccessToken: liveSandbox(id).accessToken, domain: null });
          return;
        case 'killSandbox':
          await killSandbox(liveSandbox(id), 'api');
          reply(204, undefined);
          return;
        case 'setTimeout': {
          const sandbox = liveSandbox(id);
          if (sandbox.paused) throw new E2bHttpError(409, `sandbox "${id}" is paused`);
          armTimeout(sandbox, checkTimeout(body.timeout, 300));
          reply(204, undefined);
          return;
        }
        case 'pauseSandbox': {
          const sandbox = liveSandbox(id);
          if (sandbox.paused) throw new E2bHttpError(409, `sandbox "${id}" is already paused`);
          pauseSandbox(sandbox);
          reply(204, undefined);
          return;
        }
        case 'connectSandbox': {
          const sandbox = sandboxes.get(id);
          if (!sandbox) throw new E2bHttpError(404, `paused sandbox "${id}" not found`);
          resumeSandbox(sandbox);
          if (typeof body.timeout === 'number') armTimeout(sandbox, checkTimeout(body.timeout, 300));
          reply(200, {
            templateID: sandbox.templateId,
            sandboxID: sandbox.sandboxId,
            clientID: sandbox.clientId,
            envdVersion,
            envdAccessToken: sandbox.accessToken,
            domain: null,
          });
          return;
        }
      }
    } catch (error) {
      if (error instanceof E2bHttpError) fail(error.status, error.message);
      else throw error;
    }
  };

  // ---- envd ----------------------------------------------------------------------------------------

  const envdRoutes: { method: string; path: string; operation: E2bEnvdOperation }[] = [
    { method: 'POST', path: '/process.Process/Start', operation: 'process.Start' },
    { method: 'POST', path: '/process.Process/Connect', operation: 'process.Connect' },
    { method: 'POST', path: '/process.Process/SendSignal', operation: 'process.SendSignal' },
    { method: 'POST', path: '/process.Process/List', operation: 'process.List' },
    { method: 'GET', path: '/files', operation: 'files.read' },
    { method: 'POST', path: '/files', operation: 'files.write' },
    { method: 'GET', path: '/health', operation: 'health' },
  ];

  /** Streams a process's events to one client until the process ends, the client leaves or the sandbox dies. */
  const streamProcess = (
    sandbox: SandboxRecord,
    proc: EmulatedE2bProcess,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: EmulatorRequest,
  ) => {
    entry.status = 200;
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    sandbox.streams.add(res);
    res.write(envelope(0, { event: { start: { pid: proc.pid } } }));
    const asked = Number(req.headers['keepalive-ping-interval']);
    const keepaliveMs = options.keepaliveIntervalMs ?? (Number.isFinite(asked) && asked > 0 ? asked * 1000 : 50_000);
    const keepalive = setInterval(() => res.write(envelope(0, { event: { keepalive: {} } })), keepaliveMs);
    keepalive.unref();
    const unsubscribe = proc.process.onOutput((stream, chunk) => {
      res.write(envelope(0, { event: { data: { [stream]: chunk.toString('base64') } } }));
    });
    const finish = () => {
      clearInterval(keepalive);
      unsubscribe();
      sandbox.streams.delete(res);
    };
    res.on('close', finish);
    void proc.process.exited.then(async (exit) => {
      // Output still in the pipes belongs before the end event.
      await Promise.race([proc.process.drained, new Promise((r) => setTimeout(r, 200))]);
      if (res.destroyed || res.writableEnded) return;
      const end = exit.signal
        ? { exitCode: -1, exited: false, status: `signal: ${exit.signal === 'SIGKILL' ? 'killed' : 'terminated'}` }
        : { exitCode: exit.exitCode, exited: true, status: `exit status ${exit.exitCode}` };
      res.write(envelope(0, { event: { end } }));
      res.end(envelope(2, {}));
      finish();
    });
  };

  const startProcess = (
    sandbox: SandboxRecord,
    request: Record<string, unknown>,
    deadlineMs: number,
  ): EmulatedE2bProcess => {
    const spec = asRecord(request.process);
    const cmd = typeof spec.cmd === 'string' ? spec.cmd : '';
    const args = Array.isArray(spec.args) ? spec.args.filter((a): a is string => typeof a === 'string') : [];
    const cwd = typeof spec.cwd === 'string' && spec.cwd !== '' ? spec.cwd : null;
    const env = { ...sandbox.envVars, ...asStringMap(spec.envs) };
    const command = cmd.endsWith('bash') && args[0] === '-l' && args[1] === '-c' ? (args[2] ?? null) : null;
    const mapping = options.commandFor({
      sandboxId: sandbox.sandboxId,
      templateId: sandbox.templateId,
      cmd,
      args,
      command,
      env,
      cwd,
      fs: sandbox.fs,
    });
    const local = toEmulatedCommand(mapping ?? [cmd, ...args]);
    const child = new EmulatedProcess(
      local,
      { ...baseSandboxEnv(sandbox.fs), ...env },
      cwd ? sandbox.fs.map(cwd) : sandbox.fs.workspace,
    );
    if (child.pid < 0) throw new E2bHttpError(500, `failed to start process: ${child.output.trim()}`);
    const tag = typeof request.tag === 'string' ? request.tag : null;
    const proc: EmulatedE2bProcess = { pid: child.pid, cmd, args, env, cwd, tag, process: child };
    sandbox.processes.set(child.pid, proc);
    void child.exited.then(() => sandbox.processes.delete(child.pid));
    // The real envd kills a process whose Connect-Timeout-Ms deadline passes: the bug `timeoutMs: 0` avoids.
    if (deadlineMs > 0) {
      const timer = setTimeout(() => child.signal('SIGKILL'), deadlineMs);
      timer.unref();
      void child.exited.then(() => clearTimeout(timer));
    }
    return proc;
  };

  const handleEnvd = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const route = envdRoutes.find((r) => r.method === req.method && r.path === url.pathname);
    const raw = await readBody(req);
    const entry = log('envd', route?.operation ?? `${req.method} ${url.pathname}`, req, raw);
    const streaming = route?.operation === 'process.Start' || route?.operation === 'process.Connect';
    const fail = (status: number, message: string) => {
      if (streaming && status !== 502 && status !== 401) {
        // Connect streaming errors travel in the end-stream envelope of a 200 response.
        entry.status = 200;
        res.writeHead(200, { 'content-type': 'application/connect+json' });
        res.end(envelope(2, { error: { code: connectCode(status), message } }));
        return;
      }
      entry.status = status;
      const isRpc = url.pathname.startsWith('/process.');
      sendJson(res, status, isRpc ? { code: connectCode(status), message } : { code: status, message });
    };
    const sandboxId = req.headers['e2b-sandbox-id'];
    const sandbox = typeof sandboxId === 'string' ? sandboxes.get(sandboxId) : undefined;
    if (!sandbox || sandbox.paused) {
      fail(502, `The sandbox ${String(sandboxId)} was not found or is no longer running`);
      return;
    }
    if (req.headers['x-access-token'] !== sandbox.accessToken) {
      fail(401, 'invalid access token');
      return;
    }
    if (!route) {
      fail(404, `${req.method} ${url.pathname} is not emulated`);
      return;
    }
    const injected = failures.take(
      (f) =>
        (f.kind === 'envdError' && (f.operation === undefined || f.operation === route.operation)) ||
        (f.kind === 'neverStart' && route.operation === 'process.Start'),
    );
    if (injected?.kind === 'envdError') {
      fail(injected.status, injected.message ?? `injected ${injected.status}`);
      return;
    }
    if (injected?.kind === 'neverStart') {
      // Headers go out, the start event never does; the stream dies with the sandbox or the client.
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'application/connect+json' });
      res.flushHeaders();
      sandbox.streams.add(res);
      res.on('close', () => sandbox.streams.delete(res));
      return;
    }
    try {
      switch (route.operation) {
        case 'health':
          entry.status = 204;
          res.writeHead(204);
          res.end();
          return;
        case 'process.Start': {
          const deadline = Number(req.headers['connect-timeout-ms'] ?? 0);
          const proc = startProcess(sandbox, firstEnvelope(raw), Number.isFinite(deadline) ? deadline : 0);
          streamProcess(sandbox, proc, req, res, entry);
          return;
        }
        case 'process.Connect': {
          const selector = asRecord(firstEnvelope(raw).process);
          const proc = [...sandbox.processes.values()].find(
            (p) => p.pid === selector.pid || (typeof selector.tag === 'string' && p.tag === selector.tag),
          );
          if (!proc?.process.running) throw new E2bHttpError(404, `process ${String(selector.pid)} not found`);
          streamProcess(sandbox, proc, req, res, entry);
          return;
        }
        case 'process.SendSignal': {
          const body = asRecord(JSON.parse(raw.toString('utf8') || '{}'));
          const pid = asRecord(body.process).pid;
          const proc = typeof pid === 'number' ? sandbox.processes.get(pid) : undefined;
          if (!proc?.process.running) throw new E2bHttpError(404, `process with pid ${String(pid)} not found`);
          proc.process.signal(SIGNALS[String(body.signal)] ?? 'SIGKILL');
          entry.status = 200;
          sendJson(res, 200, {});
          return;
        }
        case 'process.List':
          entry.status = 200;
          sendJson(res, 200, {
            processes: [...sandbox.processes.values()]
              .filter((p) => p.process.running)
              .map((p) => ({
                config: { cmd: p.cmd, args: p.args, envs: p.env, ...(p.cwd ? { cwd: p.cwd } : {}) },
                pid: p.pid,
                ...(p.tag ? { tag: p.tag } : {}),
              })),
          });
          return;
        case 'files.read': {
          const inSandbox = url.searchParams.get('path') ?? '';
          const file = sandbox.fs.map(inSandbox);
          const info = await stat(file).catch(() => null);
          if (!info) throw new E2bHttpError(404, `path '${inSandbox}' does not exist`);
          if (!info.isFile()) throw new E2bHttpError(400, `path '${inSandbox}' is not a file`);
          const data = await readFile(file);
          entry.status = 200;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
          res.end(data);
          return;
        }
        case 'files.write': {
          const written = await writeFiles(sandbox, url.searchParams.get('path'), req.headers, raw);
          entry.status = 200;
          sendJson(res, 200, written);
          return;
        }
      }
    } catch (error) {
      if (error instanceof E2bHttpError) fail(error.status, error.message);
      else if (error instanceof SyntaxError) fail(400, error.message);
      else if (error instanceof Error) fail(500, error.message);
      else throw error;
    }
  };

  const writeFiles = async (
    sandbox: SandboxRecord,
    queryPath: string | null,
    headers: http.IncomingHttpHeaders,
    raw: Buffer,
  ): Promise<{ name: string; type: 'file'; path: string }[]> => {
    const files: { path: string; data: Buffer }[] = [];
    const contentType = headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      const form = await new Request('http://emulator/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: new Uint8Array(raw),
      }).formData();
      for (const value of form.getAll('file')) {
        if (typeof value === 'string') continue;
        const target = queryPath ?? value.name;
        files.push({ path: target, data: Buffer.from(await value.arrayBuffer()) });
      }
    } else {
      if (!queryPath) throw new E2bHttpError(400, 'path is required');
      files.push({ path: queryPath, data: headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw });
    }
    if (files.length === 0) throw new E2bHttpError(400, 'no file in the request');
    const out: { name: string; type: 'file'; path: string }[] = [];
    for (const file of files) {
      const inSandbox = path.posix.resolve('/workspace', file.path);
      const host = sandbox.fs.map(inSandbox);
      await mkdir(path.dirname(host), { recursive: true });
      await writeFile(host, file.data);
      out.push({ name: path.posix.basename(inSandbox), type: 'file', path: inSandbox });
    }
    return out;
  };

  const api = await listenLoopback(handleApi);
  const envd = await listenLoopback(handleEnvd);

  return {
    apiUrl: api.url,
    sandboxUrl: envd.url,
    apiKey: options.apiKeys?.[0] ?? defaultKey,
    requests,
    requestsOf: (operation) => requests.filter((r) => r.operation === operation),
    sandboxes: () => [...sandboxes.values()],
    sandbox: (id) => sandboxes.get(id) ?? killedSandboxes.get(id),
    fail: (failure) => failures.push(failure),
    kill: async (sandboxId, reason = 'external') => {
      const sandbox = sandboxes.get(sandboxId);
      if (!sandbox) throw new Error(`no live emulated sandbox ${sandboxId}`);
      await killSandbox(sandbox, reason);
    },
    vanish: async (sandboxId) => {
      const sandbox = sandboxes.get(sandboxId);
      if (!sandbox?.paused) throw new Error(`no paused emulated sandbox ${sandboxId}`);
      await killSandbox(sandbox, 'vanished');
    },
    close: async () => {
      await Promise.all([...sandboxes.values()].map((s) => killSandbox(s, 'emulator-closed')));
      await Promise.all([api.close(), envd.close()]);
      await Promise.all([...killedSandboxes.values()].map((s) => s.fs.remove()));
    },
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** `pids` and all their descendants, parents before children (from /proc: Linux only, like the emulator). */
function processTree(pids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // Gone since the listing.
    }
    // The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...pids];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
