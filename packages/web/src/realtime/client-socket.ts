import { type ClientSocket, createClientSocket as createSocket } from '@rclaude/client';

export type { ClientSocket } from '@rclaude/client';

export interface WebSocketOptions {
  /** Origin of the server; empty for the page's own origin (the session cookie authenticates). */
  baseUrl?: string;
}

/**
 * The web app's connection to the proxy's `/client` namespace, connected by whoever holds it (see
 * SocketProvider), authenticated by the session cookie.
 */
export function createClientSocket(options: WebSocketOptions = {}): ClientSocket {
  return createSocket({
    baseUrl: options.baseUrl ?? '',
    autoConnect: false,
    reconnectionDelayMs: 500,
    reconnectionDelayMaxMs: 5000,
  });
}
