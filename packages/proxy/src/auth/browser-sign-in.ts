import type { BrowserSessionResponse } from '@rclaude/protocol';
import { type AccountSwitchDetails, AppError, type CreateBrowserSessionRequest } from '@rclaude/protocol';
import type { BrowserSessionService } from './browser-sessions.js';
import type { LoginService } from './login.js';
import { type LoginLinkService, loginLinkRefused } from './login-links.js';
import type { UserService } from './users.js';

/** Where a browser sign-in comes from: its address (for the login limiter) and the session it already has. */
export interface BrowserSignInContext {
  address: string | undefined;
  /** The session cookie the request carried, or null. */
  currentSessionId: string | null;
}

/** `POST /api/auth/session`: a login link or a password, to a new browser session. */
export type BrowserSignIn = (
  body: CreateBrowserSessionRequest,
  ctx: BrowserSignInContext,
) => Promise<{ sessionId: string } & BrowserSessionResponse>;

/**
 * Signs a browser in. A password leaves no API token behind (the session is the only credential). A login
 * link is used up, except when the browser holds a live session for another account and the request did
 * not say `switchAccount`: then the answer is CONFLICT naming both accounts and the link stays unused, so
 * the page can ask before a link someone else sent swaps the account (login CSRF).
 */
export function createBrowserSignIn(deps: {
  links: LoginLinkService;
  login: LoginService;
  sessions: BrowserSessionService;
  users: UserService;
}): BrowserSignIn {
  const { links, login, sessions, users } = deps;
  return async (body, { address, currentSessionId }) => {
    if ('password' in body) {
      const record = await login.checkPassword(body, address);
      return sessions.start(record.id, currentSessionId);
    }
    const link = await links.inspect(body.token);
    if (link.state !== 'valid') throw loginLinkRefused(link.state);
    const current = currentSessionId === null ? null : await sessions.verify(currentSessionId);
    if (current && current.userId !== link.userId && body.switchAccount !== true) {
      const target = await users.get(link.userId);
      const details: AccountSwitchDetails = { signedInAs: current.username, linkFor: target.username };
      throw new AppError(
        'CONFLICT',
        `you are signed in as ${current.username}; this link signs in as ${target.username}`,
        { details },
      );
    }
    const userId = await links.consume(body.token);
    return sessions.start(userId, currentSessionId);
  };
}
