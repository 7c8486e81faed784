import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import { type GitRun, lastLine, runGit } from './git.js';

/**
 * The proxy's git towards https remotes, with the owner's stored credentials (adr/0024): the sandbox never
 * holds them. A token goes to git as an HTTP `Authorization` header in git's environment (`GIT_CONFIG_*`), never
 * in a URL, an argument, a file or a log line, and git runs isolated from every configuration file.
 */

/** Most bytes of a repository the proxy clones for a task (its bundle), as for a pushed branch's bundle: 1 GiB. */
export const CLONE_BUNDLE_MAX_BYTES = 1024 * 1024 * 1024;
/** How long one git command against a remote may take. */
const REMOTE_GIT_TIMEOUT_MS = 300_000;

/** What the proxy's git needs to reach remotes for a user. */
export interface GitAccess {
  /** The user's stored secrets, decrypted for one operation and never kept (SecretService). */
  secrets: (userId: string) => Promise<Record<string, string>>;
  /** RCLAUDE_GIT_INSTEAD_OF: `url.TO.insteadOf FROM` rewrites for the proxy's git. */
  insteadOf: readonly { from: string; to: string }[];
  /** The web host of RCLAUDE_GITHUB_API_URL (github.com by default): GITHUB_TOKEN is offered to it. */
  githubHost: string;
  /**
   * Whether the proxy's git may connect to `host:port` for `owner`, and the one checked address it must use: the
   * sandboxes' egress allow-list and address rules (OutboundProxy.decide with the owner's allowed hosts), so a
   * repository URL cannot make the server reach what a sandbox may not (metadata service, private ranges).
   * None: no check (unit tests).
   */
  decide?: (
    owner: string,
    host: string,
    port: number,
  ) => Promise<{ ok: true; address: string } | { ok: false; reason: string }>;
}

/**
 * Checks where the proxy's git would connect for `url` on `owner`'s behalf (GitAccess.decide) and returns the
 * `http.curloptResolve` entry pinning git to the checked address, so a DNS answer that changes between the check
 * and git's own lookup changes nothing. A URL an RCLAUDE_GIT_INSTEAD_OF rewrite applies to goes where the admin
 * said: no check, no pin. Throws `code` with the reason when the target is refused.
 */
export async function remoteTarget(
  url: string,
  owner: string,
  access: GitAccess | null,
  code: 'SANDBOX_START_FAILED' | 'FORBIDDEN',
  what: string,
): Promise<string | null> {
  if (!access?.decide || access.insteadOf.some(({ from }) => url.startsWith(from))) return null;
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'http:' ? 80 : 443;
  const decision = await access.decide(owner, host, port);
  if (!decision.ok) throw new AppError(code, `could not ${what} ${url}: ${decision.reason}`.slice(0, 1000));
  const address = decision.address.includes(':') ? `[${decision.address}]` : decision.address;
  return `${parsed.hostname}:${port}:${address}`;
}

/** A user name and token for one https remote, and the secret it came from (for messages). */
export interface GitCredential {
  username: string;
  token: string;
  secret: 'GITHUB_TOKEN' | 'GH_TOKEN' | 'GIT_TOKEN';
}

/**
 * The credential the owner's secrets hold for `url`: `GITHUB_TOKEN` (or `GH_TOKEN`) for github.com and the
 * configured GitHub host only,
 * `GIT_TOKEN` (user `GIT_USERNAME`, default `x-access-token`) for any other https host; plain http gets none.
 */
export function gitCredentialFor(
  url: string,
  secrets: Record<string, string | undefined>,
  githubHost: string,
): GitCredential | null {
  let host: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:') return null;
    host = parsed.host.toLowerCase();
  } catch {
    return null;
  }
  if (isGithubHost(host, githubHost)) {
    const secret = secrets.GITHUB_TOKEN ? 'GITHUB_TOKEN' : secrets.GH_TOKEN ? 'GH_TOKEN' : null;
    if (secret) return { username: 'x-access-token', token: secrets[secret] as string, secret };
  }
  if (secrets.GIT_TOKEN) {
    return { username: secrets.GIT_USERNAME || 'x-access-token', token: secrets.GIT_TOKEN, secret: 'GIT_TOKEN' };
  }
  return null;
}

/** github.com, and the GitHub (Enterprise) host rclaude is configured with, take GITHUB_TOKEN. */
function isGithubHost(host: string, githubHost: string): boolean {
  return host === 'github.com' || host === githubHost.toLowerCase();
}

/** The secret a user should store for `url`, for an error's advice. */
export function secretToStore(url: string, githubHost: string): 'GITHUB_TOKEN' | 'GIT_TOKEN' {
  try {
    return isGithubHost(new URL(url).host.toLowerCase(), githubHost) ? 'GITHUB_TOKEN' : 'GIT_TOKEN';
  } catch {
    return 'GIT_TOKEN';
  }
}

/**
 * The environment for the proxy's git against a remote: only https (and http when a rewrite leads there), the
 * rewrites, no redirects, the checked address, and the credential as an `http.extraHeader`. Its values are
 * secret: never log them.
 */
export function remoteGitEnv(
  url: string,
  credential: GitCredential | null,
  insteadOf: GitAccess['insteadOf'] = [],
  pin: string | null = null,
): Record<string, string> {
  const entries: [string, string][] = insteadOf.map(({ from, to }) => [`url.${to}.insteadOf`, from]);
  // A redirect would take the request (and the token) to a host nobody checked.
  entries.push(['http.followRedirects', 'false']);
  if (pin) entries.push(['http.curloptResolve', pin]);
  if (credential) {
    const basic = Buffer.from(`${credential.username}:${credential.token}`).toString('base64');
    entries.push(['http.extraHeader', `Authorization: Basic ${basic}`]);
  }
  const env: Record<string, string> = {
    GIT_ALLOW_PROTOCOL:
      url.startsWith('http:') || insteadOf.some(({ to }) => to.startsWith('http:')) ? 'https:http' : 'https',
    GIT_CONFIG_COUNT: String(entries.length),
  };
  entries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

/** Runs the proxy's git against the remote `url`, isolated, with `remoteGitEnv`. */
export function runRemoteGit(
  args: string[],
  url: string,
  credential: GitCredential | null,
  insteadOf: GitAccess['insteadOf'] = [],
  pin: string | null = null,
): Promise<GitRun> {
  return runGit(args, {
    isolated: true,
    timeoutMs: REMOTE_GIT_TIMEOUT_MS,
    maxBuffer: 4 * 1024 * 1024,
    env: remoteGitEnv(url, credential, insteadOf, pin),
  });
}

/** `text` with every trace of the credential (the token, its Basic form) replaced by `***`. */
export function scrubCredential(text: string, credential: GitCredential | null): string {
  if (!credential) return text;
  const basic = Buffer.from(`${credential.username}:${credential.token}`).toString('base64');
  return text.split(credential.token).join('***').split(basic).join('***');
}

/** Why a clone or fetch failed, in words a user can act on (git's own last line otherwise). */
function cloneFailure(url: string, stderr: string, credential: GitCredential | null, githubHost: string): string {
  const store = secretToStore(url, githubHost);
  if (/Authentication failed|could not read Username|terminal prompts disabled|\b401\b|\b403\b/i.test(stderr)) {
    return credential
      ? `authentication failed with your ${credential.secret}; store a token that may read it with \`rclaude secret set ${credential.secret}\``
      : `authentication failed; store a token with \`rclaude secret set ${store}\``;
  }
  if (/\b30[1278]\b|redirect/i.test(stderr)) {
    return 'the server answered with a redirect, which rclaude does not follow (a renamed or moved repository?); use its current URL';
  }
  if (/Remote branch .* not found/i.test(stderr)) return lastLine(stderr).replace(/^(warning|fatal): /, '');
  if (/not found|\b404\b/i.test(stderr)) {
    return credential
      ? `repository not found (is the URL right, and may your ${credential.secret} read it?)`
      : `repository not found (a private repository needs a token: \`rclaude secret set ${store}\`)`;
  }
  return lastLine(stderr).replace(/^(warning|fatal): /, '') || 'git failed';
}

/**
 * Clones the https repository `url` (its `branch`, else its default branch, with full history so later pushes
 * fast-forward) into a scratch folder with the owner's credential for its host, and bundles it to `bundleFile`.
 * The scratch clone is always deleted. Throws SANDBOX_START_FAILED with a reason for the task
 * ("could not clone URL: authentication failed; ...") that never holds the token.
 */
export async function bundleRemoteRepo(
  url: string,
  branch: string | null,
  credential: GitCredential | null,
  bundleFile: string,
  opts: { insteadOf?: GitAccess['insteadOf']; githubHost: string; maxBytes?: number; pin?: string | null },
): Promise<void> {
  const maxBytes = opts.maxBytes ?? CLONE_BUNDLE_MAX_BYTES;
  const scratch = await mkdtemp(path.join(tmpdir(), 'rclaude-clone-'));
  const fail = (why: string) =>
    new AppError('SANDBOX_START_FAILED', `could not clone ${url}: ${scrubCredential(why, credential)}`.slice(0, 1000));
  try {
    const repo = path.join(scratch, 'repo.git');
    const args = ['clone', '--bare', '--single-branch', '--no-tags', ...(branch ? ['--branch', branch] : [])];
    const cloned = await runRemoteGit([...args, '--', url, repo], url, credential, opts.insteadOf, opts.pin ?? null);
    if (!cloned.ok) throw fail(cloneFailure(url, cloned.stderr, credential, opts.githubHost));
    const size = await runGit(['-C', repo, 'count-objects', '-v'], { isolated: true });
    const kib = /size-pack: (\d+)/.exec(size.stdout)?.[1];
    if (kib !== undefined && Number(kib) * 1024 > maxBytes) {
      throw fail(`the repository is larger than ${Math.round(maxBytes / 1024 ** 2)} MiB`);
    }
    const made = await runGit(['-C', repo, 'bundle', 'create', bundleFile, '--all'], {
      isolated: true,
      timeoutMs: REMOTE_GIT_TIMEOUT_MS,
    });
    if (!made.ok) throw fail(`could not bundle it: ${lastLine(made.stderr)}`);
    if ((await stat(bundleFile)).size > maxBytes) {
      throw fail(`the repository is larger than ${Math.round(maxBytes / 1024 ** 2)} MiB`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
