import { AppError, type ClientToServerEvents, type ErrorInfo, type ServerToClientEvents } from '@rclaude/protocol';
import { io, type Socket } from 'socket.io-client';

/** A client's connection to the proxy's `/client` namespace (CLI, web app, tests). */
export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ClientSocketOptions {
  /** Origin of the server (`http://127.0.0.1:7878`); empty for a page's own origin. */
  baseUrl?: string;
  /**
   * Bearer token for the handshake (the CLI). Without one a browser's session cookie authenticates, which
   * is why credentials go with the request.
   */
  token?: string;
  /** Connect at once (the default), or wait for `connect()` (the web app connects when signed in). */
  autoConnect?: boolean;
  /** Socket.io's own reconnection backoff: first delay and cap. */
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
}

/**
 * Makes the Socket.io connection. WebSocket only: no long-polling means no sticky sessions are needed when
 * several proxies sit behind a load balancer. Socket.io reconnects by itself with backoff.
 */
export function createClientSocket(options: ClientSocketOptions = {}): ClientSocket {
  return io(`${options.baseUrl ?? ''}/client`, {
    path: '/socket.io',
    transports: ['websocket'],
    autoConnect: options.autoConnect ?? true,
    ...(options.token === undefined ? { withCredentials: true } : { auth: { token: options.token } }),
    reconnectionDelay: options.reconnectionDelayMs ?? 500,
    reconnectionDelayMax: options.reconnectionDelayMaxMs ?? 5000,
  });
}

export interface ShareSocketOptions {
  /** Origin of the server; empty for a page's own origin. */
  baseUrl?: string;
  /** The share link's id (`sh_…`) and secret (what follows `#` in its URL). */
  shareId: string;
  secret: string;
  autoConnect?: boolean;
}

/**
 * A share-link viewer's connection to `/client`: authenticated by the link (`auth: { share }`), never by a
 * cookie or token, so a signed-in browser opening a link still watches as an anonymous viewer. The server
 * lets it attach read-only to the shared task's main session and nothing else; it hears `share:task` and
 * `task:event`. When the link is revoked or expires the server disconnects it (`io server disconnect`) and
 * Socket.io does not reconnect by itself.
 */
export function createShareSocket(options: ShareSocketOptions): ClientSocket {
  return io(`${options.baseUrl ?? ''}/client`, {
    path: '/socket.io',
    transports: ['websocket'],
    autoConnect: options.autoConnect ?? true,
    withCredentials: false,
    auth: { share: { id: options.shareId, secret: options.secret } },
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
}

/**
 * Resolves once the socket is connected. Rejects with the server's refusal (an AppError) when it turns
 * the handshake down, or with TIMEOUT after `timeoutMs`.
 */
export function waitForConnection(socket: ClientSocket, timeoutMs: number): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => {
      done();
      resolve();
    };
    const onError = (error: Error) => {
      // While `active`, Socket.io keeps retrying by itself; only a refusal by the server is final.
      if (socket.active) return;
      done();
      reject(handshakeError(error));
    };
    const timer = setTimeout(() => {
      done();
      reject(new AppError('TIMEOUT', 'The connection to the server is down; retrying.'));
    }, timeoutMs);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
    if (!socket.active) socket.connect();
  });
}

/** The server's reason for refusing a handshake (`connect_error` carries it as `data`), as an AppError. */
export function handshakeError(error: Error & { data?: unknown }): AppError {
  const data = error.data as Partial<ErrorInfo> | undefined;
  if (data && typeof data.code === 'string' && typeof data.message === 'string') {
    return AppError.from(data as ErrorInfo);
  }
  return new AppError('UNAUTHENTICATED', error.message || 'The server refused the connection; sign in again.');
}

/** Socket.io hands binary payloads to browsers as ArrayBuffer, to Node as Buffer; both become Uint8Array. */
export function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(0);
}
