import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AppError } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { createSystemUser, lookupUser, resolveSandboxUser } from './sandbox-user.js';

const isRoot = process.getuid?.() === 0;

describe('resolveSandboxUser', () => {
  it('is null for a server that is not root: sandboxes run as the server user', () => {
    expect(resolveSandboxUser({ serverUid: 1000 })).toBeNull();
    expect(resolveSandboxUser({ serverUid: 1000, configured: 'nobody' })).toBeNull();
  });

  it('takes a configured name, uid or uid:gid, and refuses root or a missing name', () => {
    expect(resolveSandboxUser({ serverUid: 0, configured: 'nobody' })).toEqual({
      name: 'nobody',
      uid: 65534,
      gid: 65534,
    });
    expect(resolveSandboxUser({ serverUid: 0, configured: '23456:34567' })).toMatchObject({ uid: 23456, gid: 34567 });
    expect(resolveSandboxUser({ serverUid: 0, configured: '23456' })).toMatchObject({ uid: 23456, gid: 23456 });
    const refused = (configured: string) => {
      try {
        resolveSandboxUser({ serverUid: 0, configured });
      } catch (err) {
        return err instanceof AppError ? `${err.code}: ${err.message}` : String(err);
      }
      return 'accepted';
    };
    expect(refused('root')).toMatch(/^PROVIDER_UNAVAILABLE: .*must name an unprivileged user/);
    expect(refused('0')).toMatch(/^PROVIDER_UNAVAILABLE: .*unprivileged/);
    expect(refused('no-such-user-rclaude')).toMatch(/^PROVIDER_UNAVAILABLE: .*does not exist.*useradd/);
  });

  it.runIf(isRoot)('creates a missing system user with no login shell, once', () => {
    const name = `rct${randomBytes(4).toString('hex')}`;
    try {
      expect(lookupUser(name)).toBeNull();
      const user = createSystemUser(name);
      expect(user.uid).toBeGreaterThan(0);
      expect(lookupUser(name)).toEqual(user);
      const entry = spawnSync('getent', ['passwd', name], { encoding: 'utf8' }).stdout.trim().split(':');
      expect(entry[6]).toBe('/usr/sbin/nologin');
      // A second server creating it at the same time finds it there.
      expect(createSystemUser(name)).toEqual(user);
    } finally {
      spawnSync('userdel', [name]);
    }
    expect(lookupUser(name)).toBeNull();
  });
});
