/**
 * Operability through real `rclaude server` processes: /healthz, /readyz (with its own Redis stopped and
 * started again), /metrics moving as a task runs, and /api/openapi.json checked against the OpenAPI 3
 * schema, the Express router stack and the zod schemas that validate requests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type Ack,
  type AttachResult,
  errorBodySchema,
  isTerminal,
  type LoadedRoute,
  loadRouteSchemas,
  type RouteName,
  routeNames,
  routes,
  type Task,
} from '@rclaude/protocol';
import { freePort, type RclaudeServer, startRclaudeServer, until } from '@rclaude/testkit';
import { Validator } from '@seriousme/openapi-schema-validator';
import AjvModule from 'ajv';
import pg from 'pg';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AppDeps, createApp } from '../../proxy/src/app.js';
import { createAuthHandlers } from '../../proxy/src/auth/routes.js';
import { createFileHandlers } from '../../proxy/src/http/files-routes.js';
import { createMetrics } from '../../proxy/src/metrics.js';

const Ajv = AjvModule.default;
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// ---- helpers -------------------------------------------------------------------------------------

async function http(
  server: RclaudeServer,
  method: string,
  urlPath: string,
  opts: { body?: unknown; auth?: boolean } = {},
): Promise<{ status: number; type: string; text: string; json: () => unknown }> {
  const res = await fetch(`${server.url}${urlPath}`, {
    method,
    headers: {
      ...(opts.auth === false ? {} : { authorization: `Bearer ${server.token}` }),
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) };
}

async function createTask(server: RclaudeServer, name: string, command: string[]): Promise<Task> {
  const res = await http(server, 'POST', '/api/tasks', { body: { name, command } });
  expect(res.status, res.text).toBe(201);
  return res.json() as Task;
}

function taskReaches(server: RclaudeServer, id: string, ok: (t: Task) => boolean): Promise<Task> {
  return until(`task ${id}`, async () => {
    const t = (await http(server, 'GET', `/api/tasks/${id}`)).json() as Task;
    return ok(t) ? t : null;
  });
}

/** A redis-server of our own (no persistence), so stopping it harms no one else. */
class OwnRedis {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-redis-')));
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const proc = spawn('redis-server', [...args, '--dir', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 15_000);
      proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  }

  async down(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  async remove(): Promise<void> {
    await this.down();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- Prometheus text ------------------------------------------------------------------------------

interface Scrape {
  text: string;
  /** Samples by `name{label="value",...}` with labels sorted. */
  samples: Map<string, number>;
  types: Map<string, string>;
}

function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

/** Parses (and so checks) the Prometheus text exposition format (Prometheus reads NaN in any case). */
function parsePrometheus(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line);
    if (help) {
      helps.add(help[1] as string);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = l[2] as string;
    }
    samples.set(sampleKey(m[1] as string, labels), Number(m[3]));
  }
  for (const name of types.keys()) expect(helps.has(name), `# HELP for ${name}`).toBe(true);
  return { text, samples, types };
}

async function scrape(server: RclaudeServer): Promise<Scrape> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.metricsToken}` } });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(text);
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return s.samples.get(sampleKey(name, labels)) ?? 0;
}

// ---- servers ---------------------------------------------------------------------------------------

describe('a server on Postgres and its own Redis', () => {
  let server: RclaudeServer;
  let redis: OwnRedis;
  const schema = `t_ops_${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    redis = await OwnRedis.start();
    server = await startRclaudeServer({
      env: {
        DATABASE_URL,
        RCLAUDE_DATABASE_SCHEMA: schema,
        REDIS_URL: redis.url,
        RCLAUDE_REDIS_PREFIX: `rclaude-test:ops-${randomBytes(4).toString('hex')}`,
      },
      timeoutMs: 90_000,
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await redis?.remove();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
  });

  it('answers /healthz, and /readyz with its database and Redis checks, without credentials', async () => {
    const health = await http(server, 'GET', '/healthz', { auth: false });
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ ok: true });
    const ready = await http(server, 'GET', '/readyz', { auth: false });
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ok: true, checks: { database: { ok: true }, redis: { ok: true } } });
  });

  it('serves /metrics only to the holder of RCLAUDE_METRICS_TOKEN', async () => {
    for (const authorization of [undefined, `Bearer ${server.token}`, 'Bearer wrong-token-of-some-length', 'Basic x']) {
      const res = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
      const text = await res.text();
      expect(res.status, String(authorization)).toBe(401);
      expect(errorBodySchema.parse(JSON.parse(text)).error.code).toBe('UNAUTHENTICATED');
      expect(text).not.toContain('rclaude_');
    }
  });

  it('serves rclaude_* metrics in Prometheus text that move as a task runs', async () => {
    const before = await scrape(server);
    for (const [name, type] of [
      ['rclaude_sessions_opened_total', 'counter'],
      ['rclaude_sandboxes', 'gauge'],
      ['rclaude_sandbox_start_seconds', 'histogram'],
      ['rclaude_output_bytes_total', 'counter'],
      ['rclaude_agent_reconnects_total', 'counter'],
      ['rclaude_errors_total', 'counter'],
      ['rclaude_task_transitions_total', 'counter'],
      ['rclaude_attached_viewers', 'gauge'],
      ['rclaude_connected_agents', 'gauge'],
      ['rclaude_process_resident_memory_bytes', 'gauge'],
    ] as const) {
      expect(before.types.get(name), name).toBe(type);
    }
    expect(before.samples.has('rclaude_agent_reconnects_total')).toBe(true);

    const n = 2000;
    const task = await createTask(server, 'metrics', ['seq', '1', String(n)]);
    const ended = await taskReaches(server, task.id, (t) => isTerminal(t.status));
    expect(ended.status).toBe('succeeded');
    // A refused REST request and a refused socket event, each counted by code.
    expect((await http(server, 'GET', '/api/tasks/zzzzzzzz')).status).toBe(404);
    const socket = io(`${server.url}/client`, { transports: ['websocket'], auth: { token: server.token } });
    try {
      const refused = new Promise((resolve) => socket.once('session:error', resolve));
      socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'x' });
      await refused;
    } finally {
      socket.disconnect();
    }

    const after = await scrape(server);
    const grew = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(grew('rclaude_sessions_opened_total', { kind: 'main' })).toBe(1);
    expect(grew('rclaude_task_transitions_total', { status: 'running' })).toBe(1);
    expect(grew('rclaude_task_transitions_total', { status: 'succeeded' })).toBe(1);
    expect(grew('rclaude_sandbox_start_seconds_count', { provider: 'local' })).toBe(1);
    expect(grew('rclaude_sandbox_start_seconds_sum', { provider: 'local' })).toBeGreaterThan(0);
    // Every line printed, as the PTY writes it ("1\r\n" ...), was stored at least once.
    const printed = Array.from({ length: n }, (_, i) => `${i + 1}\r\n`).join('').length;
    expect(grew('rclaude_output_bytes_total')).toBeGreaterThanOrEqual(printed);
    expect(grew('rclaude_errors_total', { code: 'NOT_FOUND' })).toBeGreaterThanOrEqual(2);
    // Histogram buckets are cumulative and end at +Inf with the count.
    const buckets = [...after.samples.entries()]
      .filter(([k]) => k.startsWith('rclaude_sandbox_start_seconds_bucket{') && k.includes('provider="local"'))
      .map(([k, v]) => ({ le: /le="([^"]+)"/.exec(k)?.[1] ?? '', v }))
      .sort((a, b) => Number(a.le === '+Inf' ? Infinity : a.le) - Number(b.le === '+Inf' ? Infinity : b.le));
    expect(buckets.length).toBe(12);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]?.v).toBeGreaterThanOrEqual(buckets[i - 1]?.v ?? 0);
    expect(buckets.at(-1)).toEqual({
      le: '+Inf',
      v: value(after, 'rclaude_sandbox_start_seconds_count', { provider: 'local' }),
    });
  }, 90_000);

  it('counts live sandboxes, agents and attached viewers while a task runs, and not after', async () => {
    const task = await createTask(server, 'gauges', ['sleep', '600']);
    await taskReaches(server, task.id, (t) => t.status === 'running');
    const socket = io(`${server.url}/client`, { transports: ['websocket'], auth: { token: server.token } });
    try {
      const attached = await new Promise<Ack<AttachResult>>((resolve) =>
        socket.emit('session:attach', { sessionId: task.mainSessionId, from: 0, readOnly: true }, resolve),
      );
      expect(attached.ok).toBe(true);
      const live = await scrape(server);
      expect(value(live, 'rclaude_sandboxes', { provider: 'local', state: 'claimed' })).toBe(1);
      expect(value(live, 'rclaude_connected_agents')).toBe(1);
      expect(value(live, 'rclaude_attached_viewers')).toBe(1);
    } finally {
      socket.disconnect();
    }
    // A viewer that goes away without detaching is no longer counted.
    await until('the viewer gauge to drop', async () => value(await scrape(server), 'rclaude_attached_viewers') === 0);
    expect((await http(server, 'POST', `/api/tasks/${task.id}/stop`)).status).toBe(200);
    const gone = await until('the sandbox gauge to drop', async () => {
      const s = await scrape(server);
      const left = [...s.samples.entries()].filter(([k, v]) => k.startsWith('rclaude_sandboxes{') && v > 0);
      return left.length === 0 ? s : null;
    });
    await until('the agent to disconnect', async () => value(await scrape(server), 'rclaude_connected_agents') === 0);
    expect(value(gone, 'rclaude_sandboxes', { provider: 'local', state: 'claimed' })).toBe(0);
  }, 90_000);

  it('answers /readyz 503 naming Redis while Redis is down, and 200 again once it is back', async () => {
    await redis.down();
    const down = await http(server, 'GET', '/readyz', { auth: false });
    expect(down.status).toBe(503);
    expect(down.type).toMatch(/^application\/json/);
    const body = down.json() as { ok: boolean; checks: Record<string, { ok: boolean; error?: string }> };
    expect(body.ok).toBe(false);
    expect(body.checks.database?.ok).toBe(true);
    expect(body.checks.redis).toEqual({ ok: false });
    // Why is for the operator's log, not for whoever asks: the answer carries no error text.
    expect(down.text).not.toMatch(/error|ECONNREFUSED|within/i);
    await until('the log to say why', () => /"msg":"not ready"/.test(server.log()) && server.log().includes('redis'));
    // Liveness is not readiness: the process is still up.
    expect((await http(server, 'GET', '/healthz', { auth: false })).status).toBe(200);

    await redis.up();
    await until(
      'readiness to come back',
      async () => (await http(server, 'GET', '/readyz', { auth: false })).status === 200,
    );
  }, 90_000);
});

// ---- OpenAPI -------------------------------------------------------------------------------------------

type JsonSchema = Record<string, unknown>;
interface Operation {
  operationId?: string;
  parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
  security?: unknown[];
}
interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  components: { schemas: Record<string, JsonSchema> };
  paths: Record<string, Record<string, Operation>>;
}

/** `METHOD /openapi/{path}` of a route of the table, as the document keys it. */
/** The route table with its schemas, as the server loads it. */
const routeTable = await loadRouteSchemas();

const keyOf = (name: RouteName) => `${routes[name].method} ${routes[name].path.replace(/:(\w+)/g, '{$1}')}`;

/** The zod schema each JSON body is validated with: the route table's, which the server validates with. */
const bodySchemas: Record<string, z.ZodType> = Object.fromEntries(
  routeNames.flatMap((name) => {
    const body: z.ZodType | undefined = (routeTable[name] as LoadedRoute).body;
    return body ? [[keyOf(name), body]] : [];
  }),
);

/** The zod schema each query string is validated with. */
const querySchemas: Record<string, z.ZodObject> = Object.fromEntries(
  routeNames.flatMap((name) => {
    const query: z.ZodObject | undefined = (routeTable[name] as LoadedRoute).query;
    return query ? [[keyOf(name), query]] : [];
  }),
);

/** Bodies on which the documented schema and the zod schema must agree (valid or not). */
const bodySamples: Record<string, unknown[]> = {
  'POST /api/auth/login': [
    { username: 'admin', password: 'x' },
    { username: '', password: 'x' },
    { username: 'a'.repeat(65), password: 'x' },
    { username: 'admin' },
  ],
  'POST /api/auth/session': [
    { token: 'rcl_abc' },
    { token: 'rcl_abc', switchAccount: true },
    { token: 'rcl_abc', switchAccount: 'yes' },
    { username: 'admin', password: 'x' },
    { username: 'admin', password: 'x', token: 'rcl_abc' },
    { token: '' },
    { token: 5 },
  ],
  'POST /api/agent/bootstrap': [
    { sandboxId: 'abc', bootstrap: 'st.1.x' },
    { sandboxId: '', bootstrap: 'x' },
    { sandboxId: 'abc', bootstrap: 'x'.repeat(257) },
    { sandboxId: 'abc' },
  ],
  'POST /api/tasks/{id}/files/sync-apply': [
    { op: 'put', path: 'a.txt', from: '.a.txt.part', exec: false, expect: null },
    { op: 'link', path: 'l', target: '../x', expect: { type: 'file', sha256: 'a'.repeat(64), exec: true } },
    { op: 'mkdir', path: 'd', expect: null },
    { op: 'chmod', path: 'a.txt', exec: true, expect: { type: 'file', sha256: 'b'.repeat(64), exec: false } },
    { op: 'delete', path: 'a.txt', expect: { type: 'dir', sha256: 'c'.repeat(64), exec: false } },
    { op: 'delete', path: 'a.txt' },
    { op: 'rename', path: 'a.txt', expect: null },
    { op: 'mkdir', path: 'd', expect: null, extra: 1 },
    { op: 'chmod', path: 'a.txt', exec: 'yes', expect: null },
    { op: 'put', path: 'a.txt', from: 'b', exec: false, expect: { type: 'file', sha256: 'short', exec: false } },
  ],
  'POST /api/tasks/{id}/files/rename': [
    { from: 'a.txt', to: 'b/c.txt' },
    { from: 'a.txt' },
    { from: 'a.txt', to: 'b', extra: true },
    { from: 'a.txt', to: 'x'.repeat(4097) },
    { from: 5, to: 'b' },
  ],
  'POST /api/users': [
    { username: 'bob', password: '12345678' },
    { username: 'bob', password: '12345678', role: 'admin' },
    { username: 'bob', password: '12345678', role: 'root' },
    { username: 'Bob', password: '12345678' },
    { username: 'bob', password: 'short' },
  ],
  'PUT /api/users/{id}/password': [{ password: '12345678' }, { password: '1234567' }],
  'POST /api/tokens': [{ name: 'ci' }, { name: '' }, { name: 'x'.repeat(101) }],
  'PUT /api/secrets/{name}': [{ value: 'v' }, { value: '' }, { value: 'v'.repeat(64 * 1024 + 1) }],
  'POST /api/allow-hosts': [{ host: 'registry.example.com' }, { host: '' }, { host: 5 }, { host: 'x'.repeat(256) }],
  'POST /api/tasks': [
    { command: ['bash', '-l'] },
    { prompt: 'fix the tests', name: 'fix', provider: 'local', repo: 'https://example.com/r.git', branch: 'main' },
    { command: ['bash'], prompt: 'both' },
    { command: [] },
    { provider: 'docker' },
    { cols: 0 },
    { cols: 80, rows: 24, env: { FOO: 'bar' } },
    { env: { FOO: 5 } },
  ],
  'POST /api/tasks/{id}/continue': [{ cols: 80, rows: 24 }, { cols: 0 }, { rows: 1.5 }],
  'POST /api/tasks/{id}/stop': [{ force: true }, { force: 'yes' }, { force: false, extra: 1 }],
  'POST /api/tasks/{id}/checkpoints': [{}, { trigger: 'manual' }],
  'POST /api/tasks/{id}/resume': [
    { at: 'cp_abcdefgh12', cols: 80, rows: 24 },
    { at: 'cp_short' },
    { at: 'CP_ABCDEFGH12' },
    { cols: 1001 },
  ],
  'POST /api/tasks/{id}/push': [{ branch: 'rclaude/feature' }, { branch: '-x' }, { branch: 'a..b' }, { branch: 5 }],
  'POST /api/tasks/{id}/pull-request': [
    { title: 'Fix the login', draft: true, base: 'main', githubRepo: 'acme/app' },
    { title: '' },
    { draft: 'yes' },
    { githubRepo: 'not a repo' },
  ],
  'POST /api/tasks/{id}/approvals/{approvalId}': [
    { decision: 'allow' },
    { decision: 'deny', message: 'not now' },
    { decision: 'maybe' },
    { decision: 'deny', message: 'm'.repeat(5000) },
  ],
  'POST /api/tasks/{id}/fork': [{ count: 2, prompt: 'try again' }, { count: 0 }, { count: 11 }, { prompt: '' }],
  'POST /api/tasks/{id}/shares': [
    {},
    { kind: 'view', expiresInMs: 7_200_000 },
    { kind: 'drive' },
    { kind: 'edit' },
    { expiresInMs: 1000 },
    { expiresInMs: 8 * 24 * 3_600_000 },
    { expiresInMs: 1.5 },
  ],
  'POST /api/share/{shareId}/view': [{ secret: 'x'.repeat(43) }, { secret: 'x'.repeat(129) }, { secret: 5 }, {}],
  'POST /api/drive-requests/{requestId}': [
    { decision: 'accept' },
    { decision: 'revoke' },
    { decision: 'launch' },
    { decision: 'accept', extra: 1 },
  ],
  'POST /api/sessions': [{ taskId: 'abcd1234' }, { taskId: 'abcd1234', command: ['sh'], cols: 10 }, { taskId: '' }],
  'POST /api/sessions/{id}/execute': [
    { command: 'ls -la' },
    { command: ['ls', '-la'], timeoutMs: 1000, cwd: 'src' },
    { command: '' },
    { command: 'ls', timeoutMs: 0 },
    { command: 'ls', timeoutMs: 3_600_001 },
  ],
  'POST /api/push/subscriptions': [
    {
      endpoint: 'https://push.example.com/s/1',
      keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) },
      kinds: ['waiting', 'failed'],
      label: 'Chrome on Android',
    },
    { endpoint: 'https://push.example.com/s/1', keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) } },
    { endpoint: 'https://push.example.com/s/1', keys: { p256dh: 'short', auth: 'a'.repeat(22) } },
    { endpoint: 'https://push.example.com/s/1', keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) }, kinds: ['x'] },
    { endpoint: '', keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) } },
  ],
  'PUT /api/push/subscriptions/{id}': [
    { kinds: ['finished'] },
    { label: 'Laptop' },
    { kinds: ['nope'] },
    { label: '' },
  ],
};

/** Syntactically valid values for path parameters (nothing exists under them). */
const pathValues: Record<string, string> = { id: 'abcd1234', name: 'SOME_SECRET' };

/** OpenAPI 3.0 spells exclusive bounds as booleans; JSON Schema draft 7 (what ajv reads) as numbers. */
function toDraft7(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toDraft7);
  if (typeof s !== 'object' || s === null) return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = toDraft7(v);
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else if (out[flag] === false) delete out[flag];
  }
  return out;
}

function operationsOf(doc: OpenApiDoc): { key: string; path: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([p, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, path: p, method, op })),
  );
}

interface StackLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: StackLayer[] };
  rawPath?: unknown;
}

/** `METHOD /path/{param}` for every route the Express app would serve, walking mounted routers. */
function routesOf(stack: StackLayer[], prefix = ''): string[] {
  const join = (p: string) => `${prefix}${p === '/' ? '' : p}`.replace(/:(\w+)/g, '{$1}') || '/';
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths) {
        for (const m of Object.keys(layer.route.methods)) if (m !== '_all') out.push(`${m.toUpperCase()} ${join(p)}`);
      }
    } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
      out.push(...routesOf(layer.handle.stack, `${prefix}${layer.rawPath === '/' ? '' : layer.rawPath}`));
    }
  }
  return out;
}

/** The app as main.ts builds it, with inert services: only its routing table is read. */
function routingTable(): string[] {
  const inert = {} as never;
  const authHandlers = createAuthHandlers({
    login: inert,
    signIn: inert,
    links: inert,
    users: inert,
    tokens: inert,
    sessions: inert,
    secrets: inert,
    allowHosts: inert,
    cookieSecure: false,
  });
  const deps: AppDeps = {
    routes: routeTable,
    tasks: inert,
    auth: { middleware: (_req: unknown, _res: unknown, next: () => void) => next(), handlers: authHandlers } as never,
    metrics: createMetrics(),
    log: inert,
    files: createFileHandlers({ resolveSandbox: async () => ({ sandboxId: 'x' }), rpc: inert }),
    openapi: () => ({}),
    ready: async () => ({}),
    webDir: null,
  };
  const app = createApp(deps) as unknown as { router: { stack: StackLayer[] } };
  return [...new Set(routesOf(app.router.stack))].sort();
}

describe('the OpenAPI document of an embedded server', () => {
  let server: RclaudeServer;
  let doc: OpenApiDoc;
  const ajv = new Ajv({ strict: false, allErrors: true });

  beforeAll(async () => {
    server = await startRclaudeServer({ timeoutMs: 90_000 });
    const res = await http(server, 'GET', '/api/openapi.json', { auth: false });
    expect(res.status).toBe(200);
    doc = res.json() as OpenApiDoc;
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('answers /healthz, and /readyz with its one database check', async () => {
    expect((await http(server, 'GET', '/healthz', { auth: false })).json()).toEqual({ ok: true });
    const ready = await http(server, 'GET', '/readyz', { auth: false });
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ok: true, checks: { database: { ok: true } } });
  });

  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    const ids = operationsOf(doc).map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { key, path: p, op } of operationsOf(doc)) {
      // Every {param} is declared, required, in the path.
      const inPath = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((x) => x.in === 'path');
      expect(
        declared.map((x) => x.name),
        key,
      ).toEqual(inPath);
      expect(
        declared.every((x) => x.required === true),
        key,
      ).toBe(true);
      // One success answer and the error shape for everything else.
      expect(Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s)).length, key).toBe(1);
      expect(op.responses.default?.content?.['application/json']?.schema, key).toEqual({
        $ref: '#/components/schemas/Error',
      });
    }
    expect(doc.components.schemas.Error).toEqual(
      z.toJSONSchema(errorBodySchema, { io: 'output', unrepresentable: 'any', target: 'openapi-3.0' }),
    );
  });

  it('documents exactly the routes the server serves', () => {
    const documented = operationsOf(doc)
      .map((o) => o.key)
      .sort();
    expect(documented).toEqual(routingTable());
  });

  it('documents as public exactly the routes that answer without credentials', async () => {
    for (const { key, path: p, method, op } of operationsOf(doc)) {
      const url = p.replace(/\{(\w+)\}/g, (_m, name: string) => pathValues[name] ?? 'x');
      const withBody = method === 'post' || method === 'put';
      const res = await http(server, method.toUpperCase(), url, { auth: false, ...(withBody ? { body: {} } : {}) });
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (isPublic) expect(res.status, key).not.toBe(401);
      else expect(res.status, key).toBe(401);
    }
  });

  it('describes each JSON body with the zod schema that validates it', () => {
    const withBodies = operationsOf(doc).filter((o) => o.op.requestBody?.content['application/json']);
    expect(withBodies.map((o) => o.key).sort()).toEqual(Object.keys(bodySchemas).sort());
    for (const { key, op } of withBodies) {
      const zodSchema = bodySchemas[key] as z.ZodType;
      const documented = op.requestBody?.content['application/json']?.schema as JsonSchema;
      const validate = ajv.compile(toDraft7(documented) as JsonSchema);
      const samples = [...(bodySamples[key] ?? []), {}, [], null, 'text', 42, { unknownField: 1 }];
      expect((bodySamples[key] ?? []).length, `samples for ${key}`).toBeGreaterThanOrEqual(2);
      for (const sample of samples) {
        const byZod = zodSchema.safeParse(sample).success;
        expect(validate(sample), `${key} ${JSON.stringify(sample)?.slice(0, 80)}`).toBe(byZod);
      }
    }
  });

  it('describes each query string with the zod schema that validates it', () => {
    const withQueries = operationsOf(doc).filter((o) => (o.op.parameters ?? []).some((p) => p.in === 'query'));
    expect(withQueries.map((o) => o.key).sort()).toEqual(Object.keys(querySchemas).sort());
    for (const { key, op } of withQueries) {
      const zodSchema = querySchemas[key] as z.ZodObject;
      const documented = (op.parameters ?? []).filter((p) => p.in === 'query');
      expect(documented.map((p) => p.name).sort(), key).toEqual(Object.keys(zodSchema.shape).sort());
      for (const p of documented) {
        const field = zodSchema.shape[p.name] as z.ZodType;
        expect(p.required, `${key} ${p.name}`).toBe(!field.safeParse(undefined).success);
      }
    }
  });

  it('matches the server: a body the document refuses is refused with BAD_REQUEST in the error shape', async () => {
    const errorSchema = ajv.compile(toDraft7(doc.components.schemas.Error) as JsonSchema);
    for (const { key, path: p, method, op } of operationsOf(doc)) {
      const documented = op.requestBody?.content['application/json']?.schema;
      if (!documented) continue;
      const validate = ajv.compile(toDraft7(documented) as JsonSchema);
      const url = p.replace(/\{(\w+)\}/g, (_m, name: string) => pathValues[name] ?? 'x');
      for (const body of [[], { unknownField: 1 }, 'text']) {
        expect(validate(body)).toBe(false);
        const res = await http(server, method.toUpperCase(), url, { body });
        expect(res.status, `${key} ${JSON.stringify(body)}: ${res.text}`).toBe(400);
        expect(errorSchema(res.json()), key).toBe(true);
        expect((res.json() as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
      }
    }
  });
});
