import { AppError, type ClientToServerEvents, type ErrorInfo, type ServerToClientEvents } from '@rclaude/protocol';
import { io, type Socket } from 'socket.io-client';

/** The web app's connection to the proxy's `/client` namespace. */
export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ClientSocketOptions {
  /** Origin of the server; empty for the page's own origin (the session cookie authenticates). */
  baseUrl?: string;
}

/**
 * Makes the Socket.io connection (connected by whoever holds it, see SocketProvider). WebSocket only: no long-polling means no sticky sessions are needed
 * when several proxies sit behind a load balancer. Socket.io reconnects by itself with backoff.
 */
export function createClientSocket(options: ClientSocketOptions = {}): ClientSocket {
  return io(`${options.baseUrl ?? ''}/client`, {
    path: '/socket.io',
    transports: ['websocket'],
    autoConnect: false,
    withCredentials: true,
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
    const onError = (error: Error & { data?: unknown }) => {
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

function handshakeError(error: Error & { data?: unknown }): AppError {
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
