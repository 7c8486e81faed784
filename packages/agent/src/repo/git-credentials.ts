/**
 * Git credentials come from the user's stored secrets, which reach the sandbox as environment variables.
 * They are handed to git by a credential helper that reads the variable when git asks, so the token is never
 * part of a URL, a command line, a config file or a log line:
 * - `GITHUB_TOKEN` (or `GH_TOKEN`) answers for https://github.com only;
 * - `GIT_TOKEN` (user name `GIT_USERNAME`, default `x-access-token`) answers for the host of the task's own
 *   repository only, so a token is never offered to a host the user did not name.
 * Plain http never gets a credential.
 */
export interface GitConfigEntry {
  key: string;
  value: string;
}

function helper(tokenVar: string, userExpr: string): string {
  // Runs in git's shell. Only `get` answers; `store`/`erase` are ignored.
  return `!f() { test "$1" = get || exit 0; echo "username=${userExpr}"; echo "password=$${tokenVar}"; }; f`;
}

/** The credential helpers for cloning (and later pushing to) `url`, given the session's environment. */
export function gitCredentialConfig(url: string, env: Record<string, string | undefined>): GitConfigEntry[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  if (parsed.protocol !== 'https:') return [];
  const host = parsed.host.toLowerCase();
  if (host === 'github.com') {
    const tokenVar = env.GITHUB_TOKEN ? 'GITHUB_TOKEN' : env.GH_TOKEN ? 'GH_TOKEN' : null;
    if (tokenVar) return [{ key: 'credential.https://github.com.helper', value: helper(tokenVar, 'x-access-token') }];
  }
  if (env.GIT_TOKEN) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, run by git's shell
    const user = '${GIT_USERNAME:-x-access-token}';
    return [{ key: `credential.https://${host}.helper`, value: helper('GIT_TOKEN', user) }];
  }
  return [];
}

/**
 * The environment for git commands rclaude runs itself: never prompt (there is no one to answer), only the
 * transports a task may use (no `ext::`, no ssh), and the credential helpers as `GIT_CONFIG_*` variables.
 */
export function gitEnv(env: Record<string, string>, url: string | null): Record<string, string> {
  const out: Record<string, string> = {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'https:http:file',
    GIT_ASKPASS: 'true',
  };
  const entries = url ? gitCredentialConfig(url, env) : [];
  let n = Number.parseInt(env.GIT_CONFIG_COUNT ?? '0', 10);
  if (!Number.isSafeInteger(n) || n < 0) n = 0;
  for (const { key, value } of entries) {
    out[`GIT_CONFIG_KEY_${n}`] = key;
    out[`GIT_CONFIG_VALUE_${n}`] = value;
    n++;
  }
  if (entries.length > 0) out.GIT_CONFIG_COUNT = String(n);
  return out;
}
