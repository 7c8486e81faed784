import {
  type Ack,
  AppError,
  ackError,
  ackOk,
  agentFileChangesSchema,
  agentFileDeleteSchema,
  agentFileListSchema,
  agentFileManifestSchema,
  agentFileReadSchema,
  agentFileRenameSchema,
  agentFileStatSchema,
  agentFileWriteSchema,
  type ProxyToAgentEvents,
  syncApplyRequestSchema,
} from '@rclaude/protocol';
import type { FileService } from './file-service.js';
import type { SyncService } from './sync-service.js';

/** The `files:*` RPCs the proxy sends an agent. */
export type FileEvent =
  | 'files:list'
  | 'files:stat'
  | 'files:read'
  | 'files:write'
  | 'files:delete'
  | 'files:rename'
  | 'files:manifest'
  | 'files:changes'
  | 'files:sync-apply';

type AckData<K extends FileEvent> = Parameters<ProxyToAgentEvents[K]>[1] extends (r: Ack<infer D>) => void ? D : never;

/** The part of the agent's Socket.io client socket this module uses (a `Socket<ProxyToAgentEvents, ...>` fits). */
export interface FileEventSocket {
  on(event: FileEvent, listener: FileEventListener): unknown;
  off(event: FileEvent, listener: FileEventListener): unknown;
}

/** A `files:*` listener as registered: the payload and the acknowledgement are untrusted until checked. */
export type FileEventListener = (payload: unknown, ack: unknown) => void;

/** Where unexpected failures are reported (a pino logger fits). Expected ones (AppError) are only answered. */
export interface FileHandlerLog {
  error(obj: object, msg: string): void;
}

interface PayloadSchema<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/**
 * Serves the `files:*` events of `socket` with `service`. Each payload is validated with its protocol
 * schema first (a bad one is answered BAD_REQUEST, never thrown); every answer is an {@link Ack}.
 * Returns a function that removes the listeners again.
 */
export function registerFileHandlers(
  socket: FileEventSocket,
  service: FileService,
  options: { log?: FileHandlerLog; sync?: SyncService } = {},
): () => void {
  const removers: (() => void)[] = [];

  function serve<K extends FileEvent, T>(
    event: K,
    schema: PayloadSchema<T>,
    run: (req: T) => Promise<AckData<K>>,
  ): void {
    const listener: FileEventListener = (payload, ack) => {
      // Without a callback nobody is waiting for an answer, and there is nothing to do.
      if (typeof ack !== 'function') return;
      const reply = ack as (result: Ack<AckData<K>>) => void;
      const parsed = schema.safeParse(payload);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
        const first = issues[0];
        const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
        reply(ackError(new AppError('BAD_REQUEST', `invalid ${event} request: ${summary}`, { details: { issues } })));
        return;
      }
      run(parsed.data).then(
        (data) => reply(ackOk(data)),
        (err: unknown) => {
          if (!(err instanceof AppError) || err.code === 'INTERNAL') {
            options.log?.error({ err, event }, 'file operation failed');
          }
          reply(ackError(err));
        },
      );
    };
    socket.on(event, listener);
    removers.push(() => socket.off(event, listener));
  }

  serve('files:list', agentFileListSchema, (req) => service.list(req));
  serve('files:stat', agentFileStatSchema, (req) => service.stat(req));
  serve('files:read', agentFileReadSchema, (req) => service.read(req));
  serve('files:write', agentFileWriteSchema, (req) => service.write(req));
  serve('files:delete', agentFileDeleteSchema, (req) => service.delete(req));
  serve('files:rename', agentFileRenameSchema, (req) => service.rename(req));
  const { sync } = options;
  if (sync) {
    serve('files:manifest', agentFileManifestSchema, (req) => sync.manifest(req));
    serve('files:changes', agentFileChangesSchema, (req) => sync.changes(req));
    serve('files:sync-apply', syncApplyRequestSchema, (req) => sync.apply(req));
  }

  return () => {
    for (const remove of removers.splice(0)) remove();
  };
}
