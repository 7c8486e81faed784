import { AppError } from '@rclaude/protocol';
import type { Request } from 'express';
import type { AuthContext } from '../services/auth-context.js';

export type { AuthContext } from '../services/auth-context.js';

/** The authenticated caller of a request; throws UNAUTHENTICATED if the auth middleware set none. */
export function requireAuth(req: Request): AuthContext {
  const auth = req.res?.locals.auth as AuthContext | undefined;
  if (!auth) throw new AppError('UNAUTHENTICATED', 'sign in first: run `rclaude login` or open the login URL');
  return auth;
}
