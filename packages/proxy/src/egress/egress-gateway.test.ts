import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { AGENT_EGRESS_PATH, EGRESS_SANDBOX_HEADER, type Task } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocket } from 'ws';
import type { SandboxRecord } from '../stores/types.js';
import { createEgressGateway, type EgressGateway } from './egress-gateway.js';
import { deriveEgressSecret, egressKeyFor } from './egress-key.js';
import type { ModelCredential } from './model-endpoint.js';
import type { ModelUsage } from './usage-meter.js';

const secret = deriveEgressSecret(Buffer.alloc(32, 7));
const sandboxes = new Map<string, Pick<SandboxRecord, 'state' | 'taskId'>>();
const tasks = new Map<string, Pick<Task, 'id' | 'owner' | 'status'>>();
const credentials = new Map<string, ModelCredential>();
/** What the meter was told, and who is over budget. */
const metered: { taskId: string; used: ModelUsage }[] = [];
const overBudget = new Set<string>();

/** The upstream model API, on loopback: records what it gets; `/v1/messages` streams until `release` is called. */
const upstream = {
  server: http.createServer(),
  seen: [] as { method: string; url: string; headers: IncomingHttpHeaders; body: string }[],
  release: null as (() => void) | null,
  url: '',
};
let front: http.Server;
let gateway: EgressGateway;
let frontUrl: string;

beforeAll(async () => {
  upstream.server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    upstream.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    if (req.url?.startsWith('/base/v1/messages?stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":7,"output_tokens":1}}}\n\n',
      );
      await new Promise<void>((resolve) => {
        upstream.release = resolve;
      });
      res.end(
        'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
      );
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok: true, url: req.url, model: 'claude-y', usage: { input_tokens: 2, output_tokens: 1 } }));
  });
  upstream.server.listen(0, '127.0.0.1');
  await once(upstream.server, 'listening');
  upstream.url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/base`;
  gateway = createEgressGateway({
    secret,
    sandboxes: { get: async (id) => sandboxes.get(id) ?? null },
    tasks: { get: async (id) => tasks.get(id) ?? null },
    modelCredential: async (owner) => credentials.get(owner) ?? null,
    modelUpstream: new URL(upstream.url),
    meter: {
      admit: async (ctx) => (overBudget.has(ctx.owner) ? 'monthly budget reached' : null),
      record: async (ctx, used) => {
        metered.push({ taskId: ctx.taskId, used });
      },
    },
    log: pino({ level: 'silent' }),
  });
  front = http.createServer((_req, res) => res.writeHead(404).end());
  front.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (gateway.handles(req)) gateway.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  frontUrl = `ws://127.0.0.1:${(front.address() as AddressInfo).port}${AGENT_EGRESS_PATH}`;
});

afterAll(async () => {
  await gateway.close();
  front.close();
  upstream.server.closeAllConnections();
  upstream.server.close();
});

beforeEach(() => {
  sandboxes.clear();
  tasks.clear();
  credentials.clear();
  upstream.seen.length = 0;
  metered.length = 0;
  overBudget.clear();
  sandboxes.set('sbx-live', { state: 'claimed', taskId: 'task-live' });
  tasks.set('task-live', { id: 'task-live', owner: 'alice', status: 'running' });
  credentials.set('alice', { kind: 'api-key', value: 'sk-ant-REAL-alice' });
});

/** Opens a tunnel like the agent does; resolves with the stream, or the status the gateway refused with. */
function tunnel(headers: Record<string, string>): Promise<{ stream: Duplex } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(frontUrl, { headers, perMessageDeflate: false });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => resolve({ stream: createWebSocketStream(ws) }));
    ws.once('error', reject);
  });
}

const asSandbox = (sandboxId: string, key = egressKeyFor(secret, sandboxId)) => ({
  [EGRESS_SANDBOX_HEADER]: sandboxId,
  authorization: `Bearer ${key}`,
});

/** One HTTP request over a fresh tunnel of `sandboxId`. */
async function request(
  sandboxId: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; res: IncomingMessage }> {
  const t = await tunnel(asSandbox(sandboxId));
  if (!('stream' in t)) throw new Error(`tunnel refused: ${t.status} ${t.body}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: { host: '127.0.0.1:4000', ...opts.headers },
        createConnection: () => t.stream,
      },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, res }),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function text(res: IncomingMessage): Promise<string> {
  let out = '';
  for await (const chunk of res) out += chunk;
  return out;
}

describe('the egress gateway', () => {
  it('refuses a tunnel without the right key, and for sandboxes or tasks that are not live', async () => {
    const refused = async (headers: Record<string, string>) => {
      const t = await tunnel(headers);
      return 'status' in t ? t.status : 'accepted';
    };
    expect(await refused({})).toBe(401);
    expect(await refused({ [EGRESS_SANDBOX_HEADER]: 'sbx-live' })).toBe(401);
    expect(await refused(asSandbox('sbx-live', 'forged'))).toBe(401);
    expect(await refused(asSandbox('sbx-live', egressKeyFor(secret, 'sbx-other')))).toBe(401);
    expect(
      await refused(asSandbox('sbx-live', egressKeyFor(deriveEgressSecret(Buffer.alloc(32, 8)), 'sbx-live'))),
    ).toBe(401);
    expect(await refused(asSandbox('sbx-unknown'))).toBe(403);
    sandboxes.set('sbx-pooled', { state: 'pooled', taskId: null });
    expect(await refused(asSandbox('sbx-pooled'))).toBe(403);
    sandboxes.set('sbx-stopped', { state: 'stopped', taskId: 'task-live' });
    expect(await refused(asSandbox('sbx-stopped'))).toBe(403);
    sandboxes.set('sbx-ended', { state: 'claimed', taskId: 'task-ended' });
    tasks.set('task-ended', { id: 'task-ended', owner: 'alice', status: 'succeeded' });
    expect(await refused(asSandbox('sbx-ended'))).toBe(403);
    expect(await refused(asSandbox('sbx-live'))).toBe('accepted');
    expect(upstream.seen).toEqual([]);
  });

  it('forwards a model request with the real API key in place of the placeholder', async () => {
    const r = await request('sbx-live', {
      method: 'POST',
      path: '/v1/messages?beta=true',
      headers: {
        'x-api-key': 'sk-ant-rclaude-gateway',
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'accept-encoding': 'gzip, br',
        cookie: 'a=b',
      },
      body: '{"model":"m"}',
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(await text(r.res))).toMatchObject({ ok: true, url: '/base/v1/messages?beta=true' });
    const seen = upstream.seen[0];
    expect(seen?.body).toBe('{"model":"m"}');
    expect(seen?.headers['x-api-key']).toBe('sk-ant-REAL-alice');
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.headers.cookie).toBeUndefined();
    expect(seen?.headers['accept-encoding']).toBe('identity');
    expect(seen?.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen?.headers.host).toBe(new URL(upstream.url).host);
  });

  it('sends an OAuth token as a bearer with its beta, keeping the betas the client asked for', async () => {
    credentials.set('alice', { kind: 'oauth-token', value: 'sk-ant-oat-REAL' });
    const r = await request('sbx-live', {
      method: 'POST',
      path: '/v1/messages',
      headers: { 'x-api-key': 'sk-ant-rclaude-gateway', 'anthropic-beta': 'tools-2024' },
      body: '{}',
    });
    await text(r.res);
    expect(upstream.seen[0]?.headers.authorization).toBe('Bearer sk-ant-oat-REAL');
    expect(upstream.seen[0]?.headers['x-api-key']).toBeUndefined();
    expect(upstream.seen[0]?.headers['anthropic-beta']).toBe('tools-2024,oauth-2025-04-20');
  });

  it('streams an answer as it comes, not when it ends', async () => {
    const r = await request('sbx-live', { method: 'POST', path: '/v1/messages?stream=1', body: '{}' });
    expect(r.headers['content-type']).toBe('text/event-stream');
    const first = await new Promise<string>((resolve) => r.res.once('data', (d: Buffer) => resolve(d.toString())));
    expect(first).toContain('message_start');
    // The upstream has not finished: it waits for this release.
    expect(upstream.release).not.toBeNull();
    expect(metered).toEqual([]);
    upstream.release?.();
    expect(await text(r.res)).toContain('message_stop');
    await until('the answer to be metered', () => metered.length === 1, 5000, 10);
    expect(metered[0]).toEqual({
      taskId: 'task-live',
      used: {
        model: 'claude-x',
        usage: { inputTokens: 7, outputTokens: 3, cacheReadTokens: 0, cacheCreationTokens: 0 },
      },
    });
  });

  it('meters Messages answers only, and refuses them once the budget is spent, without retries', async () => {
    await text((await request('sbx-live', { method: 'POST', path: '/v1/messages', body: '{}' })).res);
    await text((await request('sbx-live', { method: 'GET', path: '/v1/models' })).res);
    await text((await request('sbx-live', { method: 'POST', path: '/v1/messages/count_tokens', body: '{}' })).res);
    await until('the answer to be metered', () => metered.length >= 1, 5000, 10);
    expect(metered.map((m) => m.used.model)).toEqual(['claude-y']);
    overBudget.add('alice');
    const refused = await request('sbx-live', { method: 'POST', path: '/v1/messages', body: '{}' });
    expect(refused.status).toBe(402);
    expect(refused.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(await text(refused.res))).toEqual({
      type: 'error',
      error: { type: 'billing_error', message: 'rclaude: monthly budget reached' },
    });
    expect(upstream.seen).toHaveLength(3);
  });

  it('answers in the Anthropic error shape: no credential, a path it does not forward', async () => {
    credentials.clear();
    const none = await request('sbx-live', { method: 'POST', path: '/v1/messages', body: '{}' });
    expect(none.status).toBe(401);
    expect(JSON.parse(await text(none.res))).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', message: expect.stringContaining('rclaude secret set') },
    });
    credentials.set('alice', { kind: 'api-key', value: 'sk-ant-REAL-alice' });
    const batches = await request('sbx-live', { method: 'POST', path: '/v1/messages/batches', body: '{}' });
    expect(batches.status).toBe(404);
    expect(JSON.parse(await text(batches.res)).error.type).toBe('not_found_error');
    expect(upstream.seen).toEqual([]);
  });

  it('gives a clear 502 when the model API cannot be reached', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    const g = createEgressGateway({
      secret,
      sandboxes: { get: async (id) => sandboxes.get(id) ?? null },
      tasks: { get: async (id) => tasks.get(id) ?? null },
      modelCredential: async () => ({ kind: 'api-key', value: 'k' }),
      modelUpstream: new URL(`http://127.0.0.1:${port}`),
      log: pino({ level: 'silent' }),
    });
    const previous = gateway;
    gateway = g;
    try {
      const r = await request('sbx-live', { method: 'POST', path: '/v1/messages', body: '{}' });
      expect(r.status).toBe(502);
      expect(JSON.parse(await text(r.res)).error.message).toMatch(/could not reach the model API .*ECONNREFUSED/);
    } finally {
      gateway = previous;
      await g.close();
    }
  });
});
