import { AppError, type UserRole } from '@rclaude/protocol';
import type { Request } from 'express';

/** Who is making a request. Set by the auth middleware on `res.locals.auth`. */
export interface AuthContext {
  userId: string;
  username: string;
  role: UserRole;
  /** How the caller proved itself: an API/login token, or a browser session cookie (CSRF applies). */
  via: 'token' | 'cookie';
}

/** The authenticated caller of a request; throws UNAUTHENTICATED if the auth middleware set none. */
export function requireAuth(req: Request): AuthContext {
  const auth = req.res?.locals.auth as AuthContext | undefined;
  if (!auth) throw new AppError('UNAUTHENTICATED', 'sign in first: run `rclaude login` or open the login URL');
  return auth;
}
