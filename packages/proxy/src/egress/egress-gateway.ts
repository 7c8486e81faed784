import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AGENT_EGRESS_PATH, EGRESS_SANDBOX_HEADER, isTerminal, type Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws';
import type { SandboxRecord } from '../stores/types.js';
import { verifyEgressKey } from './egress-key.js';
import { forwardModelRequest, type ModelCredential, modelRequestAllowed, sendModelError } from './model-endpoint.js';
import type { ModelMeter } from './model-meter.js';
import type { OutboundProxy } from './outbound-proxy.js';
import { UsageReader } from './usage-meter.js';

/** Whom one tunnelled connection serves, fixed when its WebSocket is accepted. */
export interface EgressContext {
  sandboxId: string;
  taskId: string;
  /** The task's owner: whose credential and budget the requests use. */
  owner: string;
  /**
   * Hosts added to the server's allow-list for this connection: the task's (`rclaude run --allow-host`) and its
   * owner's (`rclaude allow-host`), as they were when the tunnel was accepted.
   */
  allowHosts: readonly string[];
}

export interface EgressGatewayDeps {
  /** From {@link deriveEgressSecret}. */
  secret: Buffer;
  sandboxes: { get(sandboxId: string): Promise<Pick<SandboxRecord, 'state' | 'taskId'> | null> };
  tasks: { get(taskId: string): Promise<Pick<Task, 'id' | 'owner' | 'status' | 'allowHosts'> | null> };
  /**
   * The owner's own allow-list additions (`rclaude allow-host`), read once per tunnel when it is accepted;
   * absent: none.
   */
  userAllowHosts?: (owner: string) => Promise<readonly string[]>;
  /** The credential for the owner's model requests (their own, else the server's); null when none exists. */
  modelCredential: (owner: string) => Promise<ModelCredential | null>;
  /** The model API requests are forwarded to (the server's ANTHROPIC_BASE_URL, default the Anthropic API). */
  modelUpstream: URL;
  /** Hosts the HTTP proxy (CONNECT, absolute-form HTTP) lets through; none: no proxying at all. */
  outbound?: OutboundProxy;
  /** Tells a task's timeline why its connection was refused (once per task and target). */
  report?: (ctx: EgressContext, message: string) => void;
  /** Meters model answers into their tasks and enforces the monthly budget; none: neither. */
  meter?: Pick<ModelMeter, 'admit' | 'record'>;
  log: Logger;
}

/** The proxy's egress gateway; see {@link createEgressGateway}. */
export interface EgressGateway {
  /** Whether an upgrade request is for the gateway (its path), so the caller hands it to {@link handleUpgrade}. */
  handles(req: IncomingMessage): boolean;
  /** Authenticates an upgrade for the gateway and, if it passes, accepts it; otherwise answers and closes. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every tunnelled connection. */
  close(): Promise<void>;
}

/**
 * The egress gateway: the one way out of a sandbox besides the agent's own channel. Each WebSocket at
 * {@link AGENT_EGRESS_PATH} carries one TCP connection a process in the sandbox opened to its agent's loopback
 * endpoint. It authenticates with the sandbox id and that sandbox's egress key, is refused unless the sandbox
 * is active and its task live, and becomes a connection of an in-process HTTP server (listening on no port)
 * that knows which sandbox, task and user it serves. Its requests:
 * - origin-form (`POST /v1/messages`): the model endpoint, forwarded to the model API with the real credential,
 *   metered into the task and refused once the owner's monthly budget is spent.
 * - `CONNECT host:port` and absolute-form HTTP: the sandbox's HTTP proxy, to allowed hosts only
 *   ({@link OutboundProxy}).
 */
export function createEgressGateway(deps: EgressGatewayDeps): EgressGateway {
  const log = deps.log.child({ component: 'egress' });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
  const contexts = new WeakMap<object, EgressContext>();
  const open = new Set<WebSocket>();

  const inner = http.createServer((req, res) => {
    const ctx = contexts.get(req.socket);
    if (!ctx) {
      res.destroy();
      return;
    }
    serveRequest(ctx, req, res).catch((err: unknown) => {
      log.error({ err, sandboxId: ctx.sandboxId }, 'egress request failed');
      sendModelError(res, 500, 'api_error', "rclaude's model gateway failed on this request; see the server log");
    });
  });
  // Claude Code keeps its connections to the model open between turns; each is a WebSocket here.
  inner.keepAliveTimeout = 60_000;
  inner.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const ctx = contexts.get(socket);
    if (!ctx || !deps.outbound) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    deps.outbound.handleConnect(req, socket, head, refusedFor(ctx), ctx.allowHosts);
  });

  /** Tasks' refused targets already reported, so a tool retrying does not flood the timeline. */
  const reported = new Map<string, Set<string>>();
  const refusedFor =
    (ctx: EgressContext) =>
    (target: string, reason: string): void => {
      if (!deps.report) return;
      let seen = reported.get(ctx.taskId);
      if (!seen) {
        if (reported.size >= 10_000) reported.clear();
        seen = new Set();
        reported.set(ctx.taskId, seen);
      }
      if (seen.has(target) || seen.size >= 50) return;
      seen.add(target);
      deps.report(ctx, `connection to ${target} refused: ${reason}`);
    };

  async function serveRequest(ctx: EgressContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (!url.startsWith('/')) {
      if (deps.outbound) await deps.outbound.handleAbsolute(req, res, refusedFor(ctx), ctx.allowHosts);
      else sendModelError(res, 403, 'permission_error', 'rclaude egress: plain HTTP to other hosts is not allowed');
      return;
    }
    const method = req.method ?? 'GET';
    if (!modelRequestAllowed(method, url)) {
      log.warn({ sandboxId: ctx.sandboxId, method, path: url.split('?')[0] }, 'model endpoint refused a path');
      sendModelError(
        res,
        404,
        'not_found_error',
        `rclaude's model gateway forwards the Messages API only; ${method} ${url.split('?')[0]} is not forwarded`,
      );
      return;
    }
    const credential = await deps.modelCredential(ctx.owner);
    if (!credential) {
      sendModelError(
        res,
        401,
        'authentication_error',
        'no model credential for this task: store your own with `rclaude secret set ANTHROPIC_API_KEY` (or CLAUDE_CODE_OAUTH_TOKEN), or ask the admin to set one on the server',
      );
      return;
    }
    const metered = method === 'POST' && url.split('?')[0] === '/v1/messages' && deps.meter;
    if (metered) {
      const refusal = await metered.admit(ctx);
      if (refusal !== null) {
        res.setHeader('x-should-retry', 'false');
        sendModelError(res, 402, 'billing_error', `rclaude: ${refusal}`);
        return;
      }
    }
    forwardModelRequest(req, res, {
      upstream: deps.modelUpstream,
      credential,
      log,
      ...(metered
        ? {
            observe: (status, headers) => {
              if (status !== 200) return null;
              const reader = new UsageReader(headers['content-type']);
              return (chunk) => {
                if (chunk) {
                  reader.push(chunk);
                  return;
                }
                const used = reader.finish();
                if (used) void metered.record(ctx, used);
              };
            },
          }
        : {}),
    });
  }

  /** Who the upgrade is for, or why it is refused (status and message). */
  async function authenticate(
    req: IncomingMessage,
  ): Promise<{ ok: true; ctx: EgressContext } | { ok: false; status: number; message: string }> {
    const sandboxId = req.headers[EGRESS_SANDBOX_HEADER];
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (typeof sandboxId !== 'string' || sandboxId.length === 0 || sandboxId.length > 128 || !key) {
      return { ok: false, status: 401, message: 'egress needs the sandbox id and its egress key' };
    }
    if (!verifyEgressKey(deps.secret, sandboxId, key)) {
      return { ok: false, status: 401, message: 'egress key refused' };
    }
    const record = await deps.sandboxes.get(sandboxId);
    if (!record || record.state === 'stopped') return { ok: false, status: 403, message: 'the sandbox is not active' };
    if (!record.taskId) return { ok: false, status: 403, message: 'the sandbox serves no task yet' };
    const task = await deps.tasks.get(record.taskId);
    if (!task || isTerminal(task.status)) return { ok: false, status: 403, message: 'the task has ended' };
    const userHosts = deps.userAllowHosts ? await deps.userAllowHosts(task.owner) : [];
    const allowHosts = [...(task.allowHosts ?? []), ...userHosts];
    return { ok: true, ctx: { sandboxId, taskId: task.id, owner: task.owner, allowHosts } };
  }

  return {
    handles: (req) => (req.url ?? '').split('?')[0] === AGENT_EGRESS_PATH,

    handleUpgrade(req, socket, head) {
      socket.on('error', () => undefined);
      authenticate(req)
        .then((result) => {
          if (socket.destroyed) return;
          if (!result.ok) {
            log.warn({ sandboxId: req.headers[EGRESS_SANDBOX_HEADER], reason: result.message }, 'egress refused');
            const body = JSON.stringify({ error: { code: 'EGRESS_REFUSED', message: result.message } });
            socket.end(
              `HTTP/1.1 ${result.status} ${http.STATUS_CODES[result.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
            );
            return;
          }
          wss.handleUpgrade(req, socket, head, (ws) => {
            open.add(ws);
            ws.once('close', () => open.delete(ws));
            const stream = createWebSocketStream(ws);
            stream.on('error', () => stream.destroy());
            contexts.set(stream, result.ctx);
            inner.emit('connection', stream);
          });
        })
        .catch((err: unknown) => {
          log.error({ err }, 'egress authentication failed');
          socket.destroy();
        });
    },

    async close() {
      for (const ws of open) ws.terminate();
      open.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      inner.close();
    },
  };
}
