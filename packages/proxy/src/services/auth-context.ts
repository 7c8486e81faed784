import type { UserRole } from '@rclaude/protocol';

/**
 * Who is making a request or holds a socket. Set by the auth middleware on `res.locals.auth` (REST) and
 * `socket.data.auth` (Socket.io). Defined here so services take it without reaching into `http/`.
 */
export interface AuthContext {
  userId: string;
  username: string;
  role: UserRole;
  /** How the caller proved itself: an API/login token, or a browser session cookie (CSRF applies). */
  via: 'token' | 'cookie';
}
