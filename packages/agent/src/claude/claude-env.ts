/** Credentials and endpoint Claude Code reads from its environment; passed through when non-empty. */
export const CLAUDE_PASS_THROUGH_VARS = ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_BASE_URL'] as const;

/** Agent-only variables that must not reach Claude Code or anything it runs. */
const AGENT_SECRET_VARS = ['RCLAUDE_AGENT_TOKEN'];

export interface ClaudeEnvOptions {
  /** HOME to run Claude Code with (where its config was seeded). Default: `base.HOME`. */
  home?: string;
  /**
   * Whether Claude Code runs as root. As root it refuses `--dangerously-skip-permissions` unless
   * IS_SANDBOX=1. Default: this process's uid is 0.
   */
  asRoot?: boolean;
}

/**
 * The environment for Claude Code in a sandbox: `base` (the agent's environment plus the session's,
 * secrets included) with undefined values dropped, the agent's own token removed, and these defaults
 * unless `base` sets them:
 * - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1: no telemetry, error reporting, feedback or update checks;
 *   only the Messages API (at ANTHROPIC_BASE_URL) is called.
 * - DISABLE_AUTOUPDATER=1: no "new version" notice or self-update inside a disposable sandbox.
 * - IS_SANDBOX=1 when running as root.
 * - TERM=xterm-256color, COLORTERM=truecolor: the TUI draws for the xterm.js viewers.
 * Empty ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN / ANTHROPIC_BASE_URL are dropped: an empty key would
 * count as a key and fail every request.
 */
export function claudeEnv(
  base: Record<string, string | undefined>,
  options: ClaudeEnvOptions = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined) env[name] = value;
  }
  for (const name of AGENT_SECRET_VARS) delete env[name];
  for (const name of CLAUDE_PASS_THROUGH_VARS) {
    if (env[name] === '') delete env[name];
  }
  if (options.home !== undefined) env.HOME = options.home;
  const asRoot = options.asRoot ?? process.getuid?.() === 0;
  const defaults: Record<string, string> = {
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    TERM: 'xterm-256color',
    COLORTERM: 'truecolor',
    ...(asRoot ? { IS_SANDBOX: '1' } : {}),
  };
  for (const [name, value] of Object.entries(defaults)) {
    if (env[name] === undefined || env[name] === '') env[name] = value;
  }
  return env;
}

/**
 * The API key every process in a sandbox sees: a placeholder, because the egress gateway adds the real
 * credential to each model request and the real one never enters the sandbox.
 */
export const GATEWAY_PLACEHOLDER_KEY = 'sk-ant-rclaude-gateway';

/** Credentials the gateway replaces: they are removed from a session's environment when it is on. */
const GATEWAY_REPLACED_VARS = ['CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN'];

/**
 * `env` pointed at the agent's egress tunnel on `port` (127.0.0.1), whatever `env` held: ANTHROPIC_BASE_URL
 * there with the placeholder ANTHROPIC_API_KEY and no other model credential, and the same endpoint as the HTTP
 * proxy for everything else (git, npm, pip, curl and Claude Code honour HTTPS_PROXY), loopback excepted.
 */
export function withGateway(env: Record<string, string>, port: number): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const name of GATEWAY_REPLACED_VARS) delete out[name];
  const endpoint = `http://127.0.0.1:${port}`;
  out.ANTHROPIC_BASE_URL = endpoint;
  out.ANTHROPIC_API_KEY = GATEWAY_PLACEHOLDER_KEY;
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy']) out[name] = endpoint;
  for (const name of ['NO_PROXY', 'no_proxy']) out[name] = '127.0.0.1,localhost';
  for (const name of ['ALL_PROXY', 'all_proxy']) delete out[name];
  return out;
}
