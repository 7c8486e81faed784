import {
  type Ack,
  AppError,
  ackError,
  ackOk,
  attachRequestSchema,
  detachRequestSchema,
  type ErrorCode,
  inputRequestSchema,
  MAX_INPUT_FRAME_BYTES,
  outputAckSchema,
  resizeRequestSchema,
  signalRequestSchema,
  taskSubscribeSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AuthContext } from '../services/auth-context.js';
import type { ClientNamespace, ClientSocket, SessionHub } from '../services/session-hub.js';
import type { TaskService } from '../services/task-service.js';
import { TokenBucket } from '../services/token-bucket.js';
import type { Presence } from './presence.js';
import { rooms } from './rooms.js';
import { type ShareSocketData, shareOf } from './share-gateway.js';

/**
 * The `/client` namespace (CLI and browser). Every event is validated; a refused one gets `session:error`
 * (or an error ack) and never affects another session. Sessions of other users are NOT_FOUND.
 */
export function registerClientGateway(deps: {
  ns: ClientNamespace;
  tasks: TaskService;
  hub: SessionHub;
  log: Logger;
  metrics: Metrics;
  inputBytesPerSec: number;
  /** Serves a socket that connected with a share link (realtime/share-gateway.ts); without it one is dropped. */
  shareViewer?: (socket: ClientSocket, share: ShareSocketData) => void;
  /** Told when a client attaches or leaves, to push who is attached (realtime/presence.ts). */
  presence?: Presence;
}): void {
  const { ns, tasks, hub, log, metrics } = deps;

  ns.on('connection', (socket: ClientSocket) => {
    // A share viewer has no account: none of the handlers below is ever registered for it.
    const share = shareOf(socket);
    if (share) {
      if (deps.shareViewer) deps.shareViewer(socket, share);
      else socket.disconnect(true);
      return;
    }
    const auth = socket.data.auth as AuthContext;
    // One allowance per session for the connection's life (a detach and re-attach does not refill it), so a
    // flood into one session never holds back typing in another.
    const buckets = new Map<string, TokenBucket>();
    const bucketOf = (sessionId: string): TokenBucket => {
      let bucket = buckets.get(sessionId);
      if (!bucket) {
        // Input is limited by bytes per second (a burst of two seconds' worth), not by message count.
        bucket = new TokenBucket(deps.inputBytesPerSec);
        buckets.set(sessionId, bucket);
      }
      return bucket;
    };
    const refuse = (event: string, sessionId: string | null, code: ErrorCode, message: string) => {
      metrics.errors.inc({ code });
      socket.emit('session:error', { sessionId, event, error: { code, message } });
    };
    const replyError = (ack: (r: Ack<never>) => void, err: unknown) => {
      if (!(err instanceof AppError)) log.error({ err }, 'client request failed');
      else metrics.errors.inc({ code: err.code });
      ack(ackError(err));
    };

    const attachedTo = new Set<string>();
    socket.on('session:attach', (raw, ack) => {
      if (typeof ack !== 'function') return;
      const parsed = attachRequestSchema.safeParse(raw);
      if (!parsed.success)
        return replyError(
          ack,
          new AppError('BAD_REQUEST', `invalid session:attach: ${parsed.error.issues[0]?.message}`),
        );
      const req = parsed.data;
      tasks
        .session(auth, req.sessionId)
        .then(async (state) => {
          // Checked here too: the hub drops this client's current attachment before its own checks, and a
          // refused request must leave the client as it was.
          const end = typeof req.from === 'number' ? (await tasks.info(state)).outputEnd : 0;
          if (typeof req.from === 'number' && req.from > end) {
            throw new AppError('BAD_REQUEST', `offset ${req.from} is beyond the stored output (${end} bytes)`);
          }
          return hub.attach(socket, state, req);
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
      if (!parsed.success) return refuse('session:detach', null, 'BAD_REQUEST', 'detach needs a sessionId');
      if (hub.viewerOf(socket, parsed.data.sessionId)) {
        hub.detach(socket, parsed.data.sessionId);
        deps.presence?.changed(parsed.data.sessionId);
      }
    });

    socket.on('pty:input', (raw) => {
      const parsed = inputRequestSchema.safeParse(raw);
      if (!parsed.success)
        return refuse(
          'pty:input',
          null,
          'BAD_REQUEST',
          `input frames are at most ${MAX_INPUT_FRAME_BYTES} bytes of text`,
        );
      const { sessionId, data } = parsed.data;
      // The schema counts UTF-16 units; the cap is in bytes, which can be three times as many.
      const bytes = Buffer.byteLength(data);
      if (bytes > MAX_INPUT_FRAME_BYTES) {
        return refuse(
          'pty:input',
          sessionId,
          'BAD_REQUEST',
          `input frames are at most ${MAX_INPUT_FRAME_BYTES} bytes of text`,
        );
      }
      const viewer = hub.viewerOf(socket, sessionId);
      if (!viewer) return refuse('pty:input', sessionId, 'NOT_FOUND', 'attach to the session before typing');
      if (viewer.readOnly) return refuse('pty:input', sessionId, 'READ_ONLY', 'this viewer is read-only');
      if (!bucketOf(sessionId).take(bytes))
        return refuse('pty:input', sessionId, 'RATE_LIMITED', 'input is arriving faster than allowed; slow down');
      hub.toAgent(viewer.sandboxId).emit('pty:input', { sessionId, data });
      tasks.noteInput(sessionId);
    });

    socket.on('pty:resize', (raw) => {
      const parsed = resizeRequestSchema.safeParse(raw);
      if (!parsed.success)
        return refuse('pty:resize', null, 'BAD_REQUEST', 'resize needs whole cols and rows from 1 to 1000');
      const viewer = hub.viewerOf(socket, parsed.data.sessionId);
      if (!viewer) return refuse('pty:resize', parsed.data.sessionId, 'NOT_FOUND', 'attach to the session first');
      if (viewer.readOnly) return refuse('pty:resize', parsed.data.sessionId, 'READ_ONLY', 'this viewer is read-only');
      // The newest resize wins: the last active client sets the size.
      hub.resize(viewer.sandboxId, parsed.data);
    });

    socket.on('pty:signal', (raw) => {
      const parsed = signalRequestSchema.safeParse(raw);
      if (!parsed.success) return refuse('pty:signal', null, 'BAD_REQUEST', 'unknown signal');
      const viewer = hub.viewerOf(socket, parsed.data.sessionId);
      if (!viewer) return refuse('pty:signal', parsed.data.sessionId, 'NOT_FOUND', 'attach to the session first');
      if (viewer.readOnly) return refuse('pty:signal', parsed.data.sessionId, 'READ_ONLY', 'this viewer is read-only');
      hub.toAgent(viewer.sandboxId).emit('pty:signal', parsed.data);
    });

    socket.on('pty:ack', (raw) => {
      const parsed = outputAckSchema.safeParse(raw);
      if (!parsed.success) return refuse('pty:ack', null, 'BAD_REQUEST', 'an ack needs a sessionId and a byte offset');
      hub.onClientAck(socket, parsed.data.sessionId, parsed.data.offset);
    });

    socket.on('task:subscribe', (raw, ack) => {
      if (typeof ack !== 'function') return;
      const parsed = taskSubscribeSchema.safeParse(raw);
      if (!parsed.success) return replyError(ack, new AppError('BAD_REQUEST', 'subscribe to {taskId} or {all: true}'));
      const req = parsed.data;
      if ('all' in req) {
        void socket.join(auth.role === 'admin' ? [rooms.user(auth.userId), rooms.admins] : rooms.user(auth.userId));
        return ack(ackOk(null));
      }
      tasks
        .get(auth, req.taskId)
        .then(async () => {
          await socket.join(rooms.task(req.taskId));
          // Read again after joining and send it: a change made before the join (a start that failed
          // at once) would otherwise never reach this client.
          socket.emit('task:updated', await tasks.get(auth, req.taskId));
          ack(ackOk(null));
        })
        .catch((err: unknown) => replyError(ack, err));
    });

    socket.on('disconnect', () => {
      hub.detachAll(socket);
      for (const sessionId of attachedTo) deps.presence?.changed(sessionId);
    });
  });
}
