import { describe, expect, it } from 'vitest';
import type { AuthContext } from '../http/context.js';
import { canSeeTask, requireAdmin } from './access.js';

const user: AuthContext = { userId: 'u1', username: 'ann', role: 'user', via: 'token' };
const admin: AuthContext = { userId: 'a1', username: 'admin', role: 'admin', via: 'cookie' };

describe('canSeeTask', () => {
  it('lets owners see their own tasks, admins every task, and nobody else', () => {
    expect(canSeeTask(user, 'u1')).toBe(true);
    expect(canSeeTask(user, 'u2')).toBe(false);
    expect(canSeeTask(user, '')).toBe(false);
    expect(canSeeTask(admin, 'u2')).toBe(true);
  });

  it('requireAdmin throws FORBIDDEN for a user', () => {
    expect(() => requireAdmin(user, 'do that')).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => requireAdmin(admin, 'do that')).not.toThrow();
  });
});
