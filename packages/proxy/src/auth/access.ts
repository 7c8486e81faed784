import { AppError } from '@rclaude/protocol';
import type { AuthContext } from '../http/context.js';

/**
 * The one visibility rule for tasks, used by routes and socket handlers alike: owners see their own,
 * admins see all. Callers answer NOT_FOUND (never FORBIDDEN) when it is false, so another user's task
 * is indistinguishable from a missing one.
 */
export function canSeeTask(auth: AuthContext, ownerId: string): boolean {
  return auth.role === 'admin' || auth.userId === ownerId;
}

/** Throws FORBIDDEN unless the caller is an admin. */
export function requireAdmin(auth: AuthContext, what: string): void {
  if (auth.role !== 'admin') throw new AppError('FORBIDDEN', `only an admin can ${what}`);
}
