/**
 * The environment for git commands rclaude runs itself in the sandbox: never prompt (there is no one to answer)
 * and only the transports a task may use (no `ext::`, no ssh). The sandbox holds no git credentials: the proxy
 * clones https repositories and pushes with the owner's token (adr/0024).
 */
export function gitEnv(env: Record<string, string>): Record<string, string> {
  return {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'https:http:file',
    GIT_ASKPASS: 'true',
  };
}
