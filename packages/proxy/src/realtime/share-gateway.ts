import {
  type Ack,
  AppError,
  ackError,
  ackOk,
  attachRequestSchema,
  type DriveRequest,
  detachRequestSchema,
  type ErrorCode,
  inputRequestSchema,
  MAX_INPUT_FRAME_BYTES,
  outputAckSchema,
  SHARE_MAX_VIEWERS_PER_LINK,
  SHARE_MAX_VIEWERS_PER_TASK,
  type ShareKind,
  shareHandshakeSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { OriginCheck } from '../auth/origin.js';
import type { HandshakeError, HandshakeSocket, SocketAuthMiddleware } from '../auth/socket-middleware.js';
import type { Metrics } from '../metrics.js';
import type { ClientNamespace, ClientSocket, SessionHub } from '../services/session-hub.js';
import type { ShareService, ShareViewers } from '../services/shares.js';
import { TokenBucket } from '../services/token-bucket.js';
import type { SessionState } from '../stores/types.js';
import type { Presence } from './presence.js';
import { rooms } from './rooms.js';

/** What a share viewer's socket carries in `socket.data.share` (set by the handshake, never by the client). */
export interface ShareSocketData {
  shareId: string;
  taskId: string;
  mainSessionId: string;
  expiresAt: number;
  kind: ShareKind;
  /** The signed-in user of a drive link (who may ask to type); null on a view link. */
  user: { userId: string; username: string } | null;
}

/** The share credential of a `/client` socket, or null for a signed-in client. */
export function shareOf(socket: { data: unknown }): ShareSocketData | null {
  const data = socket.data;
  if (typeof data !== 'object' || data === null || !('share' in data)) return null;
  const share = (data as { share?: ShareSocketData }).share;
  return share ?? null;
}

/**
 * The only events a share viewer may send; everything else is refused. `pty:input` goes through only from an
 * accepted co-driver, `share:drive` only on a drive link.
 */
const ALLOWED = new Set(['session:attach', 'session:detach', 'pty:ack', 'pty:input', 'share:drive']);
/** Events refused as READ_ONLY (they would change the session); any other unknown event is FORBIDDEN. */
const READ_ONLY_EVENTS = new Set(['pty:resize', 'pty:signal']);

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
    // A drive link is for users of this server: the account middleware must accept the socket too (token or
    // session cookie), and sets socket.data.auth.
    let user: ShareSocketData['user'] = null;
    if (share.kind === 'drive') {
      await new Promise<void>((resolve, reject) => {
        deps.signedIn(socket, (err) => {
          if (!err) return resolve();
          if ('data' in err && (err as HandshakeError).data.code !== 'UNAUTHENTICATED') return reject(err);
          reject(refuse('UNAUTHENTICATED', 'a co-drive link is for signed-in users: sign in, then open it again'));
        });
      });
      const auth = socket.data.auth;
      if (!auth) throw refuse('UNAUTHENTICATED', 'a co-drive link is for signed-in users: sign in, then open it again');
      user = { userId: auth.userId, username: auth.username };
    }
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
      kind: share.kind,
      user,
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

/**
 * A link's live viewers, on every proxy (through the Socket.io adapter): cut them off, count them, and give or
 * take a co-driver's right to type (membership of the link's drivers room, checked on every input).
 */
export function createShareViewers(ns: () => ClientNamespace, presence?: () => Presence | undefined): ShareViewers {
  return {
    revoked(shareId) {
      ns().in(rooms.shareLink(shareId)).disconnectSockets(true);
    },
    async count(shareId) {
      return (await ns().in(rooms.shareLink(shareId)).fetchSockets()).length;
    },
    async driveChanged(request, to) {
      const asker = rooms.shareUser(request.shareId, to.userId);
      if (request.state === 'accepted') ns().in(asker).socketsJoin(rooms.shareDrivers(request.shareId));
      else ns().in(asker).socketsLeave(rooms.shareDrivers(request.shareId));
      ns().to(rooms.task(request.taskId)).to(asker).emit('share:drive-request', request);
      presence?.()?.changed(to.mainSessionId);
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
    /** Whether the user may type through the drive link now (an accepted request). */
    mayDrive?: (shareId: string, userId: string) => Promise<boolean>;
    /** Asks the owner to let the user type (ShareService.requestDrive). */
    requestDrive?: (shareId: string, user: { userId: string; username: string }) => Promise<DriveRequest>;
    /** Notes typing in the session (idle timers). */
    noteInput?: (sessionId: string) => void;
    presence?: Presence;
    inputBytesPerSec?: number;
  },
): void {
  const { hub, log, metrics } = deps;
  const user = share.kind === 'drive' ? share.user : null;
  const drivers = rooms.shareDrivers(share.shareId);
  const joined = [rooms.shareLink(share.shareId), rooms.shareTask(share.taskId)];
  if (user) joined.push(rooms.shareUser(share.shareId, user.userId));
  else joined.push(rooms.anonymous);
  void Promise.resolve(socket.join(joined))
    .then(async () => {
      if (!(await deps.isActive(share.shareId))) return false;
      // Joined first, then read: a grant or revocation made meanwhile reaches this socket either way (the
      // decision moves the user's room in or out of the drivers room after storing it).
      if (user && (await deps.mayDrive?.(share.shareId, user.userId))) {
        await socket.join(drivers);
        if (!(await deps.mayDrive?.(share.shareId, user.userId))) await socket.leave(drivers);
      }
      return true;
    })
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

  const attachedTo = new Set<string>();
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
        attachedTo.add(req.sessionId);
        deps.presence?.changed(req.sessionId);
      })
      .catch((err: unknown) => replyError(ack, err));
  });

  socket.on('session:detach', (raw) => {
    const parsed = detachRequestSchema.safeParse(raw);
    if (!parsed.success) return refuseEvent('session:detach', null, 'BAD_REQUEST', 'detach needs a sessionId');
    if (hub.viewerOf(socket, parsed.data.sessionId)) {
      hub.detach(socket, parsed.data.sessionId);
      deps.presence?.changed(parsed.data.sessionId);
    }
  });

  socket.on('share:drive', (_raw, ack) => {
    if (typeof ack !== 'function') return;
    if (!user || !deps.requestDrive) {
      return replyError(
        ack,
        new AppError('READ_ONLY', 'this share link is read-only; ask its owner for a co-drive link'),
      );
    }
    deps
      .requestDrive(share.shareId, user)
      .then((request) => ack(ackOk(request)))
      .catch((err: unknown) => replyError(ack, err));
  });

  // Typing: only an accepted co-driver (in the link's drivers room, which a revocation empties at once), only
  // into the shared task's main session it is attached to, within the same byte rate as the owner's.
  const bucket = new TokenBucket(deps.inputBytesPerSec ?? 64 * 1024);
  socket.on('pty:input', (raw) => {
    const parsed = inputRequestSchema.safeParse(raw);
    if (!parsed.success) {
      return refuseEvent(
        'pty:input',
        null,
        'BAD_REQUEST',
        `input frames are at most ${MAX_INPUT_FRAME_BYTES} bytes of text`,
      );
    }
    const { sessionId, data } = parsed.data;
    if (!user || !socket.rooms.has(drivers)) {
      return refuseEvent(
        'pty:input',
        sessionId,
        'READ_ONLY',
        user ? 'the owner has not let you type (ask with “Ask to type”)' : 'a share link is read-only',
      );
    }
    const bytes = Buffer.byteLength(data);
    if (bytes > MAX_INPUT_FRAME_BYTES) {
      return refuseEvent(
        'pty:input',
        sessionId,
        'BAD_REQUEST',
        `input frames are at most ${MAX_INPUT_FRAME_BYTES} bytes of text`,
      );
    }
    const viewer = sessionId === share.mainSessionId ? hub.viewerOf(socket, sessionId) : null;
    if (!viewer) return refuseEvent('pty:input', sessionId, 'NOT_FOUND', 'attach to the shared session before typing');
    if (!bucket.take(bytes)) {
      return refuseEvent('pty:input', sessionId, 'RATE_LIMITED', 'input is arriving faster than allowed; slow down');
    }
    hub.toAgent(viewer.sandboxId).emit('pty:input', { sessionId, data });
    deps.noteInput?.(sessionId);
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
    const message = readOnly
      ? user
        ? 'a co-driver may only type: the owner’s terminal size and signals stay the owner’s'
        : 'a share link is read-only'
      : `a share link cannot ${event.slice(0, 64)}`;
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
    for (const sessionId of attachedTo) deps.presence?.changed(sessionId);
  });
}
