import { execFile } from 'node:child_process';

/** What a git command did: whether it exited 0, and what it printed. */
export interface GitRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs git on this machine (the proxy's own git work on repositories: bundles, fetches from a sandbox's bundle,
 * pushes). `isolated` gives git only PATH and no configuration file at all, for work that carries a user's
 * credential: a ~/.gitconfig in a folder others can write (HOME is not ours to trust) could rewrite the URL
 * (`insteadOf`) or add a proxy, and the token would go with the request. Otherwise git gets the server's
 * environment (the admin's git settings for local repositories).
 */
export function runGit(
  args: string[],
  opts: { env?: Record<string, string>; isolated?: boolean; timeoutMs?: number; maxBuffer?: number } = {},
): Promise<GitRun> {
  const base = opts.isolated
    ? {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: '/nonexistent',
        XDG_CONFIG_HOME: '/nonexistent',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_ASKPASS: 'true',
      }
    : process.env;
  return new Promise((resolve) => {
    execFile(
      'git',
      args,
      {
        env: { ...base, GIT_TERMINAL_PROMPT: '0', ...opts.env },
        maxBuffer: opts.maxBuffer ?? 1024 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
      },
      (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }),
    );
  });
}

/** The last line git printed: its error, for a message. */
export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

/** `-C dir`, trusting that one folder whoever owns it (a repository on the server that an admin named). */
export function inRepo(dir: string): string[] {
  return ['-c', `safe.directory=${dir}`, '-C', dir];
}

/**
 * Fetches `commit` from a sandbox's bundle into the repository `git` addresses (its `-C` arguments), writing
 * no ref: the bundle is untrusted, so git checks its objects, and git refuses a commit the bundle does not hold.
 */
export function fetchBundleCommit(
  repoArgs: string[],
  bundle: string,
  commit: string,
  opts: Parameters<typeof runGit>[1] = {},
): Promise<GitRun> {
  return runGit(
    [...repoArgs, '-c', 'transfer.fsckObjects=true', 'fetch', '--no-tags', '--no-write-fetch-head', bundle, commit],
    opts,
  );
}
