import { spawnSync } from 'node:child_process';
import { AppError } from '@rclaude/protocol';

/** The unprivileged host user local sandboxes run as when the server runs as root. */
export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user a root server creates (no login shell, no home) when RCLAUDE_SANDBOX_USER is not set. */
export const DEFAULT_SANDBOX_USER = 'rclaude-sandbox';

export interface ResolveSandboxUserOptions {
  /** RCLAUDE_SANDBOX_USER: a user name, a uid, or `uid:gid`. Default {@link DEFAULT_SANDBOX_USER}. */
  configured?: string | undefined;
  /** The server's uid; default process.getuid(). */
  serverUid?: number;
  /** Called once when the default user was created. */
  onCreated?: (user: SandboxUser) => void;
}

/**
 * The host user sandboxes run as, or null when the server is not root (then they run as the server's own
 * user, as they always did: an unprivileged server cannot switch users). A root server never runs a sandbox
 * as root: it uses RCLAUDE_SANDBOX_USER, or creates {@link DEFAULT_SANDBOX_USER} with `useradd --system`.
 */
export function resolveSandboxUser(opts: ResolveSandboxUserOptions = {}): SandboxUser | null {
  const serverUid = opts.serverUid ?? process.getuid?.() ?? -1;
  if (serverUid !== 0) return null;
  const wanted = opts.configured?.trim() || DEFAULT_SANDBOX_USER;
  const numeric = /^(\d+)(?::(\d+))?$/.exec(wanted);
  let user = lookupUser(numeric ? (numeric[1] as string) : wanted);
  if (numeric) {
    const uid = Number(numeric[1]);
    // A bare uid need not have a passwd entry (containers often run such users).
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (user?.gid ?? uid);
    user = { name: user?.name ?? `uid ${uid}`, uid, gid };
  } else if (!user && !opts.configured) {
    user = createSystemUser(wanted);
    opts.onCreated?.(user);
  }
  if (!user) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      `RCLAUDE_SANDBOX_USER names the user "${wanted}", which does not exist on this machine: create it (\`useradd --system --user-group --shell /usr/sbin/nologin ${wanted}\`) or unset RCLAUDE_SANDBOX_USER to let the server create ${DEFAULT_SANDBOX_USER}`,
    );
  }
  if (user.uid === 0 || user.gid === 0) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      `RCLAUDE_SANDBOX_USER must name an unprivileged user; "${wanted}" has uid ${user.uid} and gid ${user.gid}`,
    );
  }
  return user;
}

/** The passwd entry for a name or uid, or null. */
export function lookupUser(nameOrUid: string): SandboxUser | null {
  const res = spawnSync('getent', ['passwd', nameOrUid], { encoding: 'utf8', timeout: 10_000 });
  if (res.status !== 0) return null;
  const fields = res.stdout.trim().split('\n')[0]?.split(':') ?? [];
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!fields[0] || !Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name: fields[0], uid, gid };
}

/** `useradd --system` a user with its own group, no home and no login shell; returns it. */
export function createSystemUser(name: string): SandboxUser {
  const res = spawnSync(
    'useradd',
    [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      '--comment',
      'rclaude sandboxes',
      name,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  // 9: the name is taken, i.e. another server created it at the same moment.
  const user = lookupUser(name);
  if (user && (res.status === 0 || res.status === 9)) return user;
  const why = res.error ? res.error.message : (res.stderr || '').trim() || `exit ${res.status}`;
  throw new AppError(
    'PROVIDER_UNAVAILABLE',
    `the server runs as root and runs sandboxes as the unprivileged user ${name}, but could not create it (${why}): create it yourself (\`useradd --system --user-group --shell /usr/sbin/nologin ${name}\`) or name an existing user in RCLAUDE_SANDBOX_USER`,
  );
}
