import { hash, verify } from '@node-rs/argon2';

/**
 * Password hashing with argon2id at the library's defaults (19 MiB, 2 passes, 1 lane: the OWASP
 * baseline). The PHC string stores its own parameters, so raising them later keeps old hashes valid.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * True when `password` matches `stored`. With `stored` null (unknown user, or one without a password)
   * it still spends the time of a real check and answers false, so timing does not reveal which users exist.
   */
  verify(stored: string | null, password: string): Promise<boolean>;
}

export function createPasswordHasher(): PasswordHasher {
  let dummy: Promise<string> | null = null;
  return {
    hash: (password) => hash(password),
    async verify(stored, password) {
      if (stored === null) {
        dummy ??= hash('rclaude timing equaliser');
        await verify(await dummy, password);
        return false;
      }
      try {
        return await verify(stored, password);
      } catch {
        // A malformed stored hash is a refusal, not a crash.
        return false;
      }
    },
  };
}
