import { AppError } from '@rclaude/protocol';
import type { Request, RequestHandler } from 'express';
import type { AuthContext } from '../http/context.js';
import type { ApiTokenService } from './api-tokens.js';
import { type BrowserSessionService, CSRF_HEADER, SESSION_COOKIE } from './browser-sessions.js';
import { readCookie } from './cookies.js';
import type { OriginCheck } from './origin.js';

/** A route that works without credentials. `path` is the full path (`/api/...`), lower case, no trailing slash. */
export interface PublicRoute {
  method: string;
  path: string;
}

/** The only routes that answer without credentials: signing in. */
export const publicRoutes: readonly PublicRoute[] = [
  { method: 'POST', path: '/api/auth/login' },
  { method: 'POST', path: '/api/auth/session' },
];

export type AuthMiddleware = RequestHandler & { readonly publicRoutes: readonly PublicRoute[] };

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Express routes case-insensitively and ignores one trailing slash; the allow-list must see what routing sees. */
function routeKey(req: Request): string {
  const full = `${req.baseUrl}${req.path}`.toLowerCase();
  return full.length > 1 && full.endsWith('/') ? full.slice(0, -1) : full;
}

/** The browser session id from the request's cookie, or null. */
export function sessionIdOf(req: Request): string | null {
  return readCookie(req.headers.cookie, SESSION_COOKIE);
}

/**
 * Authenticates every request it sees (mount it on `/api`): a `Authorization: Bearer <token>` header, or
 * the session cookie plus, on anything but GET/HEAD, the `x-csrf-token` header. Sets `res.locals.auth`.
 * A request carrying a browser Origin that is neither this server's nor allowed is refused first, whatever
 * its credentials: no cross-site page gets an answer, public routes included.
 */
export function createAuthMiddleware(deps: {
  tokens: ApiTokenService;
  sessions: BrowserSessionService;
  originAllowed: OriginCheck;
}): AuthMiddleware {
  const { tokens, sessions, originAllowed } = deps;
  const open = new Set(publicRoutes.map((r) => `${r.method} ${r.path}`));

  const handler: RequestHandler = async (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, req.headers.host)) {
      throw new AppError('ORIGIN_REFUSED', `requests from ${origin} are not allowed`);
    }
    if (open.has(`${req.method} ${routeKey(req)}`)) {
      next();
      return;
    }
    let auth: AuthContext | null;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer +(\S+) *$/i.exec(authorization);
      auth = match?.[1] ? await tokens.verify(match[1]) : null;
      if (!auth)
        throw new AppError('UNAUTHENTICATED', 'the token is not valid (revoked or mistyped?); run `rclaude login`');
    } else {
      const sessionId = sessionIdOf(req);
      if (sessionId === null) {
        throw new AppError('UNAUTHENTICATED', 'sign in first: run `rclaude login` or open the login URL');
      }
      auth = await sessions.verify(sessionId);
      if (!auth) throw new AppError('UNAUTHENTICATED', 'your browser session has ended; sign in again');
      const csrf = req.headers[CSRF_HEADER];
      if (
        !SAFE_METHODS.has(req.method) &&
        !sessions.checkCsrf(sessionId, typeof csrf === 'string' ? csrf : undefined)
      ) {
        throw new AppError('FORBIDDEN', `missing or wrong ${CSRF_HEADER} header; reload the page`);
      }
    }
    res.locals.auth = auth;
    next();
  };
  return Object.assign(handler, { publicRoutes });
}
