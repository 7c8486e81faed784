import { AppError, type LoginResponse } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { ApiTokenService } from './api-tokens.js';
import { addressBucket, type LoginLimiter } from './login-limiter.js';
import type { PasswordHasher } from './passwords.js';
import { toUser, type UserRecord, type UserService } from './users.js';

export interface LoginService {
  /**
   * Checks a username and password: throttled per account and per address before any password is
   * checked, and the same answer for an unknown user, a wrong password and a user without a password.
   */
  checkPassword(input: { username: string; password: string }, address: string | undefined): Promise<UserRecord>;
  /** `POST /api/auth/login` (the CLI's sign-in): a password checked, then a fresh API token, listed and revocable. */
  login(input: { username: string; password: string }, address: string | undefined): Promise<LoginResponse>;
}

export function createLoginService(deps: {
  users: UserService;
  tokens: ApiTokenService;
  passwords: PasswordHasher;
  limiter: LoginLimiter;
  logger: Logger;
}): LoginService {
  const { users, tokens, passwords, limiter, logger } = deps;

  const checkPassword: LoginService['checkPassword'] = async (input, address) => {
    const account = input.username.trim().toLowerCase();
    const bucket = addressBucket(address);
    const waitMs = await limiter.attempt(account, bucket);
    if (waitMs > 0) {
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      logger.warn({ username: account, address: bucket, retryAfterSeconds }, 'sign-in throttled');
      throw new AppError('RATE_LIMITED', `too many sign-in attempts; try again in ${retryAfterSeconds} s`, {
        details: { retryAfterSeconds },
      });
    }
    const record = await users.findByUsername(account);
    const ok = await passwords.verify(record?.passwordHash ?? null, input.password);
    if (!record || !ok) {
      logger.info({ username: account, address: bucket }, 'sign-in refused');
      throw new AppError('UNAUTHENTICATED', 'wrong username or password');
    }
    await limiter.succeeded(account);
    logger.info({ userId: record.id, address: bucket }, 'signed in');
    return record;
  };

  return {
    checkPassword,
    async login(input, address) {
      const record = await checkPassword(input, address);
      const { token } = await tokens.issue(record.id, `login from ${addressBucket(address)}`.slice(0, 100));
      return { token, user: toUser(record) };
    },
  };
}
