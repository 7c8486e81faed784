import { randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AGENT_TUNNEL_PATH,
  AppError,
  EGRESS_SANDBOX_HEADER,
  errorStatus,
  TUNNEL_HOST_KEY_HEADER,
  TUNNEL_ID_HEADER,
  TUNNEL_PROTOCOL,
  tunnelIdSchema,
  tunnelQuerySchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import { verifyEgressKey } from '../egress/egress-key.js';
import type { AgentRpc } from '../services/agent-rpc.js';
import type { AuthContext } from '../services/auth-context.js';

/** What a tunnel reaches: the sandbox's SSH server, or a port on its loopback. */
export type TunnelTarget = { kind: 'ssh' } | { kind: 'port'; port: number };

export interface TunnelGatewayDeps {
  /** The egress secret: the agent's leg authenticates with its sandbox's egress key. */
  secret: Buffer;
  /** Who is behind a client upgrade (token or browser session); throws when nobody. */
  authenticate: (headers: IncomingHttpHeaders) => Promise<AuthContext>;
  /** The running sandbox and owner of a task the caller may use (owner or admin); throws NOT_FOUND otherwise. */
  resolve: (auth: AuthContext, taskId: string) => Promise<{ sandboxId: string; owner: string }>;
  /** The environment the owner's terminals get (their secrets, never model credentials). */
  sessionEnv: (owner: string) => Promise<Record<string, string>>;
  rpc: AgentRpc;
  /** Open tunnels one task may have at once. */
  maxPerTask: number;
  /** Open tunnels one user may have at once, over all tasks. */
  maxPerUser: number;
  log: Logger;
  /** How long the agent has to open its leg. Default 15 s. */
  openTimeoutMs?: number;
}

/** One open tunnel: the agent's leg, and for ssh the sandbox's host key. */
export interface OpenTunnel {
  socket: Socket;
  hostKey: string | null;
}

/** The proxy's tunnels; see {@link createTunnelGateway}. */
export interface TunnelGateway {
  /** Whether an upgrade is a client's tunnel (`/api/tasks/:id/tunnel`) or an agent's leg. */
  handles(req: IncomingMessage): boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Opens a tunnel to a task's sandbox for `auth` (ownership and limits checked): the agent's leg, ready for
   * bytes. Used by client upgrades and by the port preview. The tunnel counts against the limits until the
   * returned socket closes.
   */
  open(auth: AuthContext, taskId: string, target: TunnelTarget): Promise<OpenTunnel>;
  /** Ends every tunnel. */
  close(): Promise<void>;
}

const CLIENT_PATH = /^\/api\/tasks\/([a-z0-9]{4,32})\/tunnel$/;

/**
 * Tunnels: a client's HTTP upgrade at `/api/tasks/:id/tunnel?kind=ssh|port&port=N` (protocol
 * {@link TUNNEL_PROTOCOL}) is authenticated like any API request, checked against the task's ownership and the
 * tunnel limits; the proxy then asks the task's agent (`tunnel:open`, through the sandbox's room) to upgrade a
 * connection of its own to {@link AGENT_TUNNEL_PATH}, pairs the two and answers the client 101. From then on
 * the two raw connections are piped into each other, so each side's TCP (or Unix socket) paces the other.
 * The pairing is in this process: the agent must reach the same proxy as the client (true of local and
 * docker sandboxes, whose agent socket is this proxy's; see adr/0017 for several proxies).
 */
export function createTunnelGateway(deps: TunnelGatewayDeps): TunnelGateway {
  const log = deps.log.child({ component: 'tunnels' });
  /** Tunnels waiting for their agent leg, by id. */
  const pending = new Map<string, { sandboxId: string; arrive: (socket: Socket) => void; cancel: () => void }>();
  const open = new Set<Socket>();
  const perTask = new Map<string, number>();
  const perUser = new Map<string, number>();

  const bump = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };

  function waitForAgentLeg(tunnelId: string, sandboxId: string): { leg: Promise<Socket>; cancel: () => void } {
    let cancel: () => void = () => undefined;
    const leg = new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(tunnelId);
        reject(new AppError('TIMEOUT', 'the sandbox did not open its end of the tunnel in time'));
      }, deps.openTimeoutMs ?? 15_000);
      cancel = () => {
        clearTimeout(timer);
        pending.delete(tunnelId);
      };
      pending.set(tunnelId, {
        sandboxId,
        arrive: (socket) => {
          clearTimeout(timer);
          pending.delete(tunnelId);
          resolve(socket);
        },
        cancel,
      });
    });
    return { leg, cancel };
  }

  async function openTunnel(auth: AuthContext, taskId: string, target: TunnelTarget): Promise<OpenTunnel> {
    const { sandboxId, owner } = await deps.resolve(auth, taskId);
    if ((perTask.get(taskId) ?? 0) >= deps.maxPerTask) {
      throw new AppError('RATE_LIMITED', `task ${taskId} has ${deps.maxPerTask} tunnels open; close one first`);
    }
    if ((perUser.get(auth.userId) ?? 0) >= deps.maxPerUser) {
      throw new AppError('RATE_LIMITED', `you have ${deps.maxPerUser} tunnels open; close one first`);
    }
    bump(perTask, taskId, 1);
    bump(perUser, auth.userId, 1);
    const release = () => {
      bump(perTask, taskId, -1);
      bump(perUser, auth.userId, -1);
    };
    const tunnelId = randomBytes(24).toString('base64url');
    const wait = waitForAgentLeg(tunnelId, sandboxId);
    try {
      const env = target.kind === 'ssh' ? await deps.sessionEnv(owner) : {};
      const [result, socket] = await Promise.all([
        deps.rpc.call(
          sandboxId,
          'tunnel:open',
          { tunnelId, kind: target.kind, port: target.kind === 'port' ? target.port : null, env },
          deps.openTimeoutMs ?? 15_000,
        ),
        wait.leg,
      ]);
      open.add(socket);
      socket.once('close', () => {
        open.delete(socket);
        release();
      });
      log.info({ taskId, kind: target.kind, user: auth.userId }, 'tunnel open');
      return { socket, hostKey: typeof result.hostKey === 'string' ? result.hostKey : null };
    } catch (err) {
      wait.cancel();
      // A leg that arrived after all is not used.
      void wait.leg.then((s) => s.destroy()).catch(() => undefined);
      release();
      throw err;
    }
  }

  async function clientUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, taskId: string): Promise<void> {
    if ((req.headers.upgrade ?? '').toLowerCase() !== TUNNEL_PROTOCOL) {
      throw new AppError('BAD_REQUEST', `tunnels upgrade to ${TUNNEL_PROTOCOL}`);
    }
    const auth = await deps.authenticate(req.headers);
    const query = tunnelQuerySchema.safeParse(
      Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams.entries()),
    );
    if (!query.success) throw new AppError('BAD_REQUEST', query.error.issues[0]?.message ?? 'bad tunnel query');
    const q = query.data;
    const tunnel = await openTunnel(
      auth,
      taskId,
      q.kind === 'ssh' ? { kind: 'ssh' } : { kind: 'port', port: q.port ?? 0 },
    );
    if (socket.destroyed) {
      tunnel.socket.destroy();
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${TUNNEL_PROTOCOL}\r\n${
        tunnel.hostKey ? `${TUNNEL_HOST_KEY_HEADER}: ${tunnel.hostKey.replace(/[\r\n]/g, '')}\r\n` : ''
      }\r\n`,
    );
    join(socket, head, tunnel.socket);
  }

  function agentUpgrade(req: IncomingMessage, socket: Duplex): void {
    const sandboxId = req.headers[EGRESS_SANDBOX_HEADER];
    const tunnelId = req.headers[TUNNEL_ID_HEADER];
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (typeof sandboxId !== 'string' || sandboxId.length > 128 || !verifyEgressKey(deps.secret, sandboxId, key)) {
      refuse(socket, new AppError('UNAUTHENTICATED', 'tunnel leg refused'));
      return;
    }
    const entry = typeof tunnelId === 'string' && tunnelIdSchema.safeParse(tunnelId).success && pending.get(tunnelId);
    if (!entry || entry.sandboxId !== sandboxId) {
      refuse(socket, new AppError('NOT_FOUND', 'no such tunnel waits here'));
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${TUNNEL_PROTOCOL}\r\n\r\n`);
    entry.arrive(socket as Socket);
  }

  return {
    handles(req) {
      const path = (req.url ?? '').split('?')[0] ?? '';
      return path === AGENT_TUNNEL_PATH || CLIENT_PATH.test(path);
    },

    handleUpgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (path === AGENT_TUNNEL_PATH) {
        agentUpgrade(req, socket);
        return;
      }
      const taskId = CLIENT_PATH.exec(path)?.[1] ?? '';
      clientUpgrade(req, socket, head, taskId).catch((err: unknown) => {
        const error = err instanceof AppError ? err : new AppError('INTERNAL', 'the tunnel failed');
        if (!(err instanceof AppError)) log.error({ err, taskId }, 'tunnel failed');
        refuse(socket, error);
      });
    },

    open: openTunnel,

    async close() {
      for (const entry of [...pending.values()]) entry.cancel();
      for (const s of open) s.destroy();
      open.clear();
    },
  };
}

/** Answers an upgrade that will not happen with the API's error body, then closes. */
function refuse(socket: Duplex, error: AppError): void {
  if (socket.destroyed) return;
  const status = errorStatus[error.code];
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** How long one side of a tunnel may stay open once the other has closed. */
const TUNNEL_CLOSE_GRACE_MS = 5_000;

/** Pipes a client connection and an agent leg into each other; an end is passed on, an error ends both. */
function join(client: Duplex, head: Buffer, leg: Socket): void {
  client.on('error', () => leg.destroy());
  leg.on('error', () => client.destroy());
  // A side that closes without an end (a reset, a destroy) still ends the other, after what it already sent; and
  // the other is destroyed if it has not closed soon after: a sandbox that never closes its side of a finished
  // tunnel must not hold the tunnel's slot (and so its owner's limit) for as long as it runs.
  const closeAfter = (other: Duplex) => {
    other.end();
    setTimeout(() => other.destroy(), TUNNEL_CLOSE_GRACE_MS).unref();
  };
  client.once('close', () => closeAfter(leg));
  leg.once('close', () => closeAfter(client));
  if (head.length > 0) leg.write(head);
  client.pipe(leg).pipe(client);
}
