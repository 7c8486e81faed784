import { describe, expect, it } from 'vitest';
import { claudeEnv, GATEWAY_PLACEHOLDER_KEY, withGateway } from './claude-env.js';

describe('claudeEnv', () => {
  it('adds the sandbox defaults and keeps the credentials', () => {
    const env = claudeEnv(
      {
        PATH: '/usr/bin',
        ANTHROPIC_API_KEY: 'sk-ant-x',
        CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat-y',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
        UNSET: undefined,
      },
      { asRoot: false, home: '/home/sandbox' },
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/sandbox',
      ANTHROPIC_API_KEY: 'sk-ant-x',
      CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat-y',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      TERM: 'xterm-256color',
      COLORTERM: 'truecolor',
    });
  });

  it('sets IS_SANDBOX only as root', () => {
    expect(claudeEnv({}, { asRoot: true }).IS_SANDBOX).toBe('1');
    expect(claudeEnv({}, { asRoot: false }).IS_SANDBOX).toBeUndefined();
    expect(claudeEnv({}).IS_SANDBOX).toBe(process.getuid?.() === 0 ? '1' : undefined);
  });

  it('drops empty credentials and the agent token, and lets the base override defaults', () => {
    const env = claudeEnv(
      {
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_BASE_URL: '',
        RCLAUDE_AGENT_TOKEN: 'secret',
        TERM: 'screen',
        DISABLE_AUTOUPDATER: '0',
      },
      { asRoot: false },
    );
    expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    expect(env.ANTHROPIC_BASE_URL).toBeUndefined();
    expect(env.RCLAUDE_AGENT_TOKEN).toBeUndefined();
    expect(env.TERM).toBe('screen');
    expect(env.DISABLE_AUTOUPDATER).toBe('0');
  });

  it('does not modify its input', () => {
    const base = { RCLAUDE_AGENT_TOKEN: 't' };
    claudeEnv(base, { asRoot: true });
    expect(base).toEqual({ RCLAUDE_AGENT_TOKEN: 't' });
  });
});

describe('withGateway', () => {
  it('points the model and the HTTP proxy at the tunnel, with the placeholder key and no real credential', () => {
    const env = withGateway(
      {
        PATH: '/usr/bin',
        ANTHROPIC_API_KEY: 'sk-ant-real',
        ANTHROPIC_BASE_URL: 'https://api.example.test',
        CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat-real',
        ANTHROPIC_AUTH_TOKEN: 'bearer-real',
        ALL_PROXY: 'socks5://elsewhere:1080',
        https_proxy: 'http://elsewhere:3128',
      },
      4321,
    );
    const endpoint = 'http://127.0.0.1:4321';
    expect(env).toEqual({
      PATH: '/usr/bin',
      ANTHROPIC_API_KEY: GATEWAY_PLACEHOLDER_KEY,
      ANTHROPIC_BASE_URL: endpoint,
      HTTPS_PROXY: endpoint,
      HTTP_PROXY: endpoint,
      https_proxy: endpoint,
      http_proxy: endpoint,
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
    });
  });
});
