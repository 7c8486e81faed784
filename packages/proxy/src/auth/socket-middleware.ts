import type { IncomingHttpHeaders } from 'node:http';
import type { ConnectErrorData } from '@rclaude/protocol';
import type { AuthContext } from '../http/context.js';
import type { ApiTokenService } from './api-tokens.js';
import { type BrowserSessionService, SESSION_COOKIE } from './browser-sessions.js';
import { readCookie } from './cookies.js';
import type { OriginCheck } from './origin.js';

/** The parts of a Socket.io server socket the middleware reads and writes. */
export interface HandshakeSocket {
  handshake: { headers: IncomingHttpHeaders; auth: Record<string, unknown> };
  data: { auth?: AuthContext };
}

/** What a refused client sees in `connect_error`: `err.message`, and `err.data` (read it with `connectErrorOf`). */
export interface HandshakeError extends Error {
  data: ConnectErrorData;
}

export type SocketAuthMiddleware = (socket: HandshakeSocket, next: (err?: Error) => void) => void;

function refuse(code: HandshakeError['data']['code'], message: string): HandshakeError {
  return Object.assign(new Error(message), { data: { code, message } });
}

/**
 * Socket.io middleware for the `/client` namespace. Refuses a browser handshake whose Origin is not this
 * server's or allowed (cross-site WebSocket hijacking), then takes the token from the handshake's auth
 * payload (`io(url, { auth: { token } })`; never from the query string, which ends up in logs), or the
 * browser session cookie. Sets `socket.data.auth`. CSRF tokens are not needed here: the Origin check is
 * what stops a foreign page, and a WebSocket cannot be opened cross-site without one.
 */
export function createSocketAuthMiddleware(deps: {
  tokens: ApiTokenService;
  sessions: BrowserSessionService;
  originAllowed: OriginCheck;
  onError: (error: unknown) => void;
}): SocketAuthMiddleware {
  const { tokens, sessions, originAllowed, onError } = deps;

  async function authenticate(socket: HandshakeSocket): Promise<AuthContext> {
    const { headers, auth } = socket.handshake;
    const origin = headers.origin;
    if (origin !== undefined && !originAllowed(origin, headers.host)) {
      throw refuse('ORIGIN_REFUSED', `connections from ${origin} are not allowed`);
    }
    const token = auth.token;
    if (token !== undefined) {
      const ctx = typeof token === 'string' ? await tokens.verify(token) : null;
      if (!ctx) throw refuse('UNAUTHENTICATED', 'the token is not valid (revoked or mistyped?); run `rclaude login`');
      return ctx;
    }
    const sessionId = readCookie(headers.cookie, SESSION_COOKIE);
    const ctx = sessionId === null ? null : await sessions.verify(sessionId);
    if (!ctx) throw refuse('UNAUTHENTICATED', 'sign in first: pass { auth: { token } } or sign in from the web app');
    return ctx;
  }

  return (socket, next) => {
    authenticate(socket).then(
      (ctx) => {
        socket.data.auth = ctx;
        next();
      },
      (error: unknown) => {
        if (error instanceof Error && 'data' in error) {
          next(error);
          return;
        }
        onError(error);
        next(refuse('INTERNAL', 'internal error'));
      },
    );
  };
}
