import {
  type Ack,
  AppError,
  ackError,
  ackOk,
  attachRequestSchema,
  detachRequestSchema,
  type ErrorCode,
  outputAckSchema,
  SHARE_MAX_VIEWERS_PER_LINK,
  SHARE_MAX_VIEWERS_PER_TASK,
  shareHandshakeSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { OriginCheck } from '../auth/origin.js';
import type { HandshakeError, HandshakeSocket, SocketAuthMiddleware } from '../auth/socket-middleware.js';
import type { Metrics } from '../metrics.js';
import type { ClientNamespace, ClientSocket, SessionHub } from '../services/session-hub.js';
import type { ShareService, ShareViewers } from '../services/shares.js';
import type { SessionState } from '../stores/types.js';
import { rooms } from './rooms.js';

/** What a share viewer's socket carries in `socket.data.share` (set by the handshake, never by the client). */
export interface ShareSocketData {
  shareId: string;
  taskId: string;
  mainSessionId: string;
  expiresAt: number;
}

/** The share credential of a `/client` socket, or null for a signed-in client. */
export function shareOf(socket: { data: unknown }): ShareSocketData | null {
  const data = socket.data;
  if (typeof data !== 'object' || data === null || !('share' in data)) return null;
  const share = (data as { share?: ShareSocketData }).share;
  return share ?? null;
}

/** The only events a share viewer may send; everything else is refused. */
const ALLOWED = new Set(['session:attach', 'session:detach', 'pty:ack']);
/** Events refused as READ_ONLY (they would change the session); any other unknown event is FORBIDDEN. */
const READ_ONLY_EVENTS = new Set(['pty:input', 'pty:resize', 'pty:signal']);

function refuse(code: HandshakeError['data']['code'], message: string): HandshakeError {
  return Object.assign(new Error(message), { data: { code, message } });
}

/**
 * The `/client` handshake: a socket whose auth payload is `{ share: { id, secret } }` is a share viewer
 * (origin checked like any browser, the link verified, its viewer counts bounded); any other goes to the
 * account middleware (`signedIn`). A share viewer has no account: `socket.data.auth` stays unset.
 */
export function createShareAwareSocketMiddleware(deps: {
  ns: () => ClientNamespace;
  shares: ShareService;
  originAllowed: OriginCheck;
  signedIn: SocketAuthMiddleware;
  onError: (error: unknown) => void;
}): SocketAuthMiddleware {
  async function authenticate(socket: HandshakeSocket): Promise<ShareSocketData> {
    const { headers, auth } = socket.handshake;
    const origin = headers.origin;
    if (origin !== undefined && !deps.originAllowed(origin, headers.host)) {
      throw refuse('ORIGIN_REFUSED', `connections from ${origin} are not allowed`);
    }
    const parsed = shareHandshakeSchema.safeParse(auth.share);
    if (!parsed.success) throw refuse('UNAUTHENTICATED', 'this is not a valid share link');
    const share = await deps.shares.verify(parsed.data.id, parsed.data.secret).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'UNAUTHENTICATED') throw refuse('UNAUTHENTICATED', err.message);
      throw err;
    });
    // Counted over every proxy (the adapter asks them); two handshakes at the same instant may both pass.
    const [onLink, onTask] = await Promise.all([
      deps.ns().in(rooms.shareLink(share.id)).fetchSockets(),
      deps.ns().in(rooms.shareTask(share.task.id)).fetchSockets(),
    ]);
    if (onLink.length >= SHARE_MAX_VIEWERS_PER_LINK || onTask.length >= SHARE_MAX_VIEWERS_PER_TASK) {
      throw refuse('RATE_LIMITED', 'this shared task has as many viewers as it may have; try again later');
    }
    return {
      shareId: share.id,
      taskId: share.task.id,
      mainSessionId: share.task.mainSessionId,
      expiresAt: share.expiresAt.getTime(),
    };
  }

  return (socket, next) => {
    if (socket.handshake.auth.share === undefined) {
      deps.signedIn(socket, next);
      return;
    }
    authenticate(socket).then(
      (share) => {
        (socket.data as { share?: ShareSocketData }).share = share;
        next();
      },
      (error: unknown) => {
        if (error instanceof Error && 'data' in error) {
          next(error);
          return;
        }
        deps.onError(error);
        next(refuse('INTERNAL', 'internal error'));
      },
    );
  };
}

/** A link's live viewers, on every proxy (through the Socket.io adapter): cut them off, count them. */
export function createShareViewers(ns: () => ClientNamespace): ShareViewers {
  return {
    revoked(shareId) {
      ns().in(rooms.shareLink(shareId)).disconnectSockets(true);
    },
    async count(shareId) {
      return (await ns().in(rooms.shareLink(shareId)).fetchSockets()).length;
    },
  };
}

/**
 * Serves one share viewer on `/client`: it may attach read-only to the shared task's main session (screen,
 * then live output), acknowledge output and detach; it hears `share:task` and `task:event` for that task.
 * Every other event is refused (READ_ONLY for input, resize and signals; FORBIDDEN for the rest) and nothing
 * reaches the sandbox. The socket is disconnected when the link expires or is revoked.
 */
export function serveShareViewer(
  socket: ClientSocket,
  share: ShareSocketData,
  deps: {
    hub: SessionHub;
    resolveSession: (sessionId: string) => Promise<SessionState | null>;
    log: Logger;
    metrics: Metrics;
    now: () => number;
    /** Whether the link still works: a revocation between the handshake and the join would miss this socket. */
    isActive: (shareId: string) => Promise<boolean>;
  },
): void {
  const { hub, log, metrics } = deps;
  void Promise.resolve(socket.join([rooms.shareLink(share.shareId), rooms.shareTask(share.taskId)]))
    .then(() => deps.isActive(share.shareId))
    .then(
      (active) => {
        if (!active) socket.disconnect(true);
      },
      (err: unknown) => {
        log.error({ err }, 'checking a share link after its viewer joined failed');
        socket.disconnect(true);
      },
    );
  // setTimeout holds at most ~24.8 days; links live 7 days at most.
  const expiry = setTimeout(() => socket.disconnect(true), Math.max(0, share.expiresAt - deps.now()));
  expiry.unref?.();

  const refuseEvent = (event: string, sessionId: string | null, code: ErrorCode, message: string) => {
    metrics.errors.inc({ code });
    socket.emit('session:error', { sessionId, event, error: { code, message } });
  };
  const replyError = (ack: (r: Ack<never>) => void, err: unknown) => {
    if (!(err instanceof AppError)) log.error({ err }, 'share viewer request failed');
    else metrics.errors.inc({ code: err.code });
    ack(ackError(err));
  };
  const notFound = (sessionId: string) => new AppError('NOT_FOUND', `no session ${sessionId}`);

  socket.on('session:attach', (raw, ack) => {
    if (typeof ack !== 'function') return;
    const parsed = attachRequestSchema.safeParse(raw);
    if (!parsed.success) {
      return replyError(ack, new AppError('BAD_REQUEST', `invalid session:attach: ${parsed.error.issues[0]?.message}`));
    }
    const req = parsed.data;
    if (req.sessionId !== share.mainSessionId) return replyError(ack, notFound(req.sessionId));
    deps
      .resolveSession(req.sessionId)
      .then((state) => {
        if (!state || state.taskId !== share.taskId) throw notFound(req.sessionId);
        // An offset beyond the stored output is refused by the hub, leaving the viewer as it was. Always read-only, and no size: a viewer never resizes the owner's terminal. Its acks open its own
        // window only: they never reach the agent, so a viewer acking slowly cannot pause the owner's program.
        return hub.attach(socket, state, { from: req.from, readOnly: true, pacesAgent: false });
      })
      .then(({ result, start }) => {
        ack(ackOk(result));
        start();
      })
      .catch((err: unknown) => replyError(ack, err));
  });

  socket.on('session:detach', (raw) => {
    const parsed = detachRequestSchema.safeParse(raw);
    if (!parsed.success) return refuseEvent('session:detach', null, 'BAD_REQUEST', 'detach needs a sessionId');
    if (hub.viewerOf(socket, parsed.data.sessionId)) hub.detach(socket, parsed.data.sessionId);
  });

  socket.on('pty:ack', (raw) => {
    const parsed = outputAckSchema.safeParse(raw);
    if (!parsed.success)
      return refuseEvent('pty:ack', null, 'BAD_REQUEST', 'an ack needs a sessionId and a byte offset');
    hub.onClientAck(socket, parsed.data.sessionId, parsed.data.offset);
  });

  socket.onAny((event: string, ...args: unknown[]) => {
    if (ALLOWED.has(event)) return;
    const first = args[0];
    const sessionId =
      typeof first === 'object' && first !== null && 'sessionId' in first && typeof first.sessionId === 'string'
        ? first.sessionId.slice(0, 64)
        : null;
    const readOnly = READ_ONLY_EVENTS.has(event);
    const code: ErrorCode = readOnly ? 'READ_ONLY' : 'FORBIDDEN';
    const message = readOnly ? 'a share link is read-only' : `a share link cannot ${event.slice(0, 64)}`;
    const ack = args[args.length - 1];
    if (typeof ack === 'function') {
      metrics.errors.inc({ code });
      (ack as (r: Ack<never>) => void)(ackError(new AppError(code, message)));
      return;
    }
    refuseEvent(event.slice(0, 64), sessionId, code, message);
  });

  socket.on('disconnect', () => {
    clearTimeout(expiry);
    hub.detachAll(socket);
  });
}
